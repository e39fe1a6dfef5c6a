// Package scripts holds the Lua topic rules shipped with the broker, each
// with a *.cases.yaml file for the rule tester (`brokerctl script test
// scripts/`); README.md documents the script API. The Go test here runs those
// cases, so `make test` covers the shipped rules.
package scripts
