package luahost

import (
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

var (
	// errNoDir: Options.Dir is empty; leave scripts.dir empty to run without policies instead of creating a Host.
	errNoDir = errors.New("lua host: no scripts directory given (set scripts.dir)")
	// errBusy: every Lua state of a script stayed busy for the whole call time-out.
	errBusy = errors.New("all Lua states busy")
	// errTimeout: a hook ran past its deadline and was cut; the state is discarded.
	errTimeout = errors.New("time-out")
	// errMemory: a Lua state went over its memory budget; the state is discarded.
	errMemory = errors.New("memory limit")
	// errTripped: the script's circuit breaker is open; the hook did not run.
	errTripped = errors.New("circuit breaker open after repeated time-outs")
	// errBadReturn: a hook returned something other than the documented verdicts.
	errBadReturn = errors.New("bad return value")
	// errTooLarge: a script file is over maxScriptBytes.
	errTooLarge = errors.New("script file too large")
)

// LoadError says why a script was not loaded: which file, which line when
// gopher-lua knows it (0 otherwise), and the message. It is what the logs, the
// reload error and `brokerctl script check` show.
type LoadError struct {
	File string
	Line int
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// loadError turns a gopher-lua parse, compile or runtime error of the chunk
// named chunk (the file's base name) into a LoadError for file, with the line
// pulled out of whichever format that error uses.
func loadError(file, chunk string, err error) *LoadError {
	var le *LoadError
	if errors.As(err, &le) {
		return le
	}
	var pe *parse.Error
	if errors.As(err, &pe) {
		msg := strings.TrimSpace(pe.Message)
		if pe.Token != "" {
			msg = fmt.Sprintf("%s near '%s'", msg, pe.Token)
		}
		line := pe.Pos.Line
		if line < 0 {
			line = 0 // compileScript puts the last line here
			msg += " at end of file"
		}
		return &LoadError{File: file, Line: line, Msg: msg}
	}
	var ce *lua.CompileError
	if errors.As(err, &ce) {
		return &LoadError{File: file, Line: ce.Line, Msg: ce.Message}
	}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		return runtimeLoadError(file, chunk, ae.Object.String())
	}
	return &LoadError{File: file, Msg: err.Error()}
}

// runtimeLoadError parses "chunk:LINE: message", the shape of a Lua runtime
// error raised while a script's top level runs.
func runtimeLoadError(file, chunk, msg string) *LoadError {
	if rest, ok := strings.CutPrefix(msg, chunk+":"); ok {
		n := 0
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			n = n*10 + int(rest[i]-'0')
			i++
		}
		if i > 0 && i < len(rest) && rest[i] == ':' {
			return &LoadError{File: file, Line: n, Msg: strings.TrimSpace(rest[i+1:])}
		}
	}
	return &LoadError{File: file, Msg: msg}
}
