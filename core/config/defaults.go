package config

import (
	"fmt"
	"reflect"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// FillDefaults sets every zero scalar field of *out (walking nested
// structs) to the value defaults give its key, decoded as Load decodes it.
// It lets a server built from a Config literal (tests, embedders) take the
// same defaults as the binary, declared once in its Defaults map. Slices
// and maps are left alone: their zero value is the empty default. A bool
// can only default to false this way, since false is its zero.
func FillDefaults(out any, defaults map[string]any) error {
	dst := reflect.ValueOf(out)
	if dst.Kind() != reflect.Pointer || dst.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: FillDefaults needs a pointer to a struct, got %T", out)
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return fmt.Errorf("load defaults: %w", err)
	}
	src := reflect.New(dst.Elem().Type())
	if err := unmarshal(k, src.Interface()); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	fillZero(dst.Elem(), src.Elem())
	return nil
}

func fillZero(dst, src reflect.Value) {
	for i := range dst.NumField() {
		f := dst.Field(i)
		switch {
		case !f.CanSet():
		case f.Kind() == reflect.Struct:
			fillZero(f, src.Field(i))
		case f.Kind() == reflect.Slice || f.Kind() == reflect.Map:
		case f.IsZero():
			f.Set(src.Field(i))
		}
	}
}
