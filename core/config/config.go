// Package config loads a binary's configuration in layers with koanf:
// built-in defaults < a YAML file given with --config < BROKER_ environment
// variables (`__` separates levels) < --set key=value flags. Unknown keys are
// rejected so that a typo is an error at start, not a silently ignored setting.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable the broker reads.
const EnvPrefix = "BROKER_"

// ErrPrinted is returned by Load after --print-config has printed the
// effective configuration; the caller exits 0.
var ErrPrinted = errors.New("configuration printed")

// ErrUsage is returned by Load for a command line it cannot parse (an
// unknown flag, a stray argument), after it has written what was wrong and
// the usage to Options.Err; the caller exits 2. A request for help (-h,
// --help) is not one: Load writes the usage to Out and returns an error
// that is flag.ErrHelp, and the caller exits 0.
var ErrUsage = errors.New("usage error")

// Options says where Load reads from. Environ is the environment as
// os.Environ returns it; Out receives --print-config and the usage asked
// for, Err (Out when nil) the usage after a bad command line.
type Options struct {
	Name     string         // binary name, for usage text
	Args     []string       // command-line arguments without the program name
	Environ  []string       // usually os.Environ()
	Defaults map[string]any // flat keys with "." between levels
	Out      io.Writer
	Err      io.Writer
}

// Load fills out (a pointer to a struct with koanf tags) from the layers.
func Load(opts Options, out any) error {
	fs := flag.NewFlagSet(opts.Name, flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	file := fs.String("config", "", "YAML config `file`")
	printConfig := fs.Bool("print-config", false, "print the effective configuration and exit")
	var sets setFlags
	fs.Var(&sets, "set", "override one `key=value` (repeatable), e.g. --set log.level=debug")
	errOut := opts.Err
	if errOut == nil {
		errOut = opts.Out
	}
	err := fs.Parse(opts.Args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = usage.WriteTo(opts.Out)
		return fmt.Errorf("parse flags: %w", err)
	case err != nil: // the flag package has written the error and the usage
		_, _ = usage.WriteTo(errOut)
		return fmt.Errorf("%w: %w", ErrUsage, err)
	case fs.NArg() > 0:
		fmt.Fprintf(errOut, "unexpected argument %q\n", fs.Arg(0))
		fs.SetOutput(errOut)
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}

	k := koanf.New(".")
	if err := k.Load(confmap.Provider(opts.Defaults, "."), nil); err != nil {
		return fmt.Errorf("load defaults: %w", err)
	}
	if *file != "" {
		if err := k.Load(fileProvider(*file), yaml.Parser()); err != nil {
			return fmt.Errorf("load config file %s: %w", *file, err)
		}
	}
	environ := opts.Environ
	if err := k.Load(env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: envKey,
		EnvironFunc:   func() []string { return environ },
	}), nil); err != nil {
		return fmt.Errorf("load environment: %w", err)
	}
	overrides := map[string]any{}
	for _, kv := range sets {
		overrides[kv[0]] = kv[1]
	}
	if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
		return fmt.Errorf("load --set: %w", err)
	}

	if err := unmarshal(k, out); err != nil {
		return err
	}
	if *printConfig {
		b, err := k.Marshal(yaml.Parser())
		if err != nil {
			return fmt.Errorf("print config: %w", err)
		}
		if _, err := opts.Out.Write(b); err != nil {
			return fmt.Errorf("print config: %w", err)
		}
		return ErrPrinted
	}
	return nil
}

func unmarshal(k *koanf.Koanf, out any) error {
	err := k.UnmarshalWithConf("", out, koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
				// A string where a struct is expected: the struct reads it
				// (webrtc.ice_servers entries given as bare URLs).
				mapstructure.TextUnmarshallerHookFunc(),
			),
			Metadata:         nil,
			Result:           out,
			WeaklyTypedInput: true, // env and --set values arrive as strings
			ErrorUnused:      true, // a typo in a key is an error
			TagName:          "koanf",
		},
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// envKey maps BROKER_WEBRTC__LOOPBACK_ONLY to webrtc.loopback_only.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

func fileProvider(path string) koanf.Provider { return file.Provider(path) }

// setFlags collects repeated --set key=value flags in order.
type setFlags [][2]string

func (s *setFlags) String() string { return "" }

func (s *setFlags) Set(v string) error {
	key, val, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want key=value", v)
	}
	*s = append(*s, [2]string{key, val})
	return nil
}
