// Package protocol holds the broker's wire messages: broker.proto and the Go
// generated from it (make proto). It is wire-compatible with the 2019
// webrtc-broker protocol; broker.proto documents the extensions.
package protocol

//go:generate protoc --plugin=protoc-gen-go=../bin/tools/protoc-gen-go --go_out=. --go_opt=paths=source_relative broker.proto
