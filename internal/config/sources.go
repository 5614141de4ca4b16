package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/roomcast/roomcast/internal/logging"
)

// envPrefix starts every setting's environment variable: ROOMCAST_ and the
// flag's name in upper case with - as _ (--rtc-udp-port is
// ROOMCAST_RTC_UDP_PORT).
const envPrefix = "ROOMCAST_"

// EnvName is the environment variable of flag name.
func EnvName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Effective is every setting of a command once loaded: its value as
// given (or its default) and where it came from, for `config print`.
type Effective struct {
	List     []Setting
	problems error // values the file or the environment gave that a flag refused
}

// Setting is one flag's effective value.
type Setting struct {
	Name   string
	Values []string // several for a repeated flag (webhook-url)
	Source string   // "default", "file", "env" or "flag"
	Secret bool     // shown redacted
}

// load fills fs from, lowest first: its defaults, the YAML file named by
// --config (or ROOMCAST_CONFIG; its keys are the flag names), the
// ROOMCAST_* environment, and args. Every problem is reported at once:
// unknown keys in the file, values a flag refuses, wherever they came
// from. The file and the environment are read with koanf.
//
// load's error is the command line's own (an unknown flag, -help, an
// argument left over): nothing else is worth checking then. The other
// problems are in Effective.problems, for the caller to join with its
// validation.
func load(fs *flag.FlagSet, args []string) (Effective, error) {
	var path string
	fs.StringVar(&path, "config", "", "YAML file of settings, keys are these flags' names (flags win over ROOMCAST_* environment variables, which win over the file)")
	given := map[string]*recorder{}
	fs.VisitAll(func(f *flag.Flag) {
		r := &recorder{Value: f.Value}
		f.Value, given[f.Name] = r, r
	})
	if err := fs.Parse(args); err != nil {
		return Effective{}, err
	}
	if fs.NArg() > 0 {
		return Effective{}, fmt.Errorf("config: unexpected arguments %q", fs.Args())
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	if path == "" {
		path = os.Getenv(EnvName("config"))
	}
	var errs []error
	fromFile := koanf.New(".")
	if path != "" {
		if err := fromFile.Load(file.Provider(path), yaml.Parser()); err != nil {
			errs = append(errs, fmt.Errorf("--config %s: %w", path, err))
		}
		for _, k := range fromFile.Keys() {
			if fs.Lookup(k) == nil || k == "config" {
				errs = append(errs, fmt.Errorf("--config %s: unknown setting %q (the keys are the flags' names, e.g. rtc-udp-port)", path, k))
			}
		}
	}
	fromEnv := koanf.New(".")
	fromEnv.Load(env.Provider(".", env.Opt{Prefix: envPrefix, TransformFunc: func(k, v string) (string, any) {
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, envPrefix)), "_", "-")
		if fs.Lookup(name) == nil || name == "config" || v == "" {
			return "", nil // another program's, a secret read where it is used, or unset
		}
		return name, v
	}}), nil)
	var eff Effective
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		s := Setting{Name: f.Name, Source: "default", Values: []string{f.DefValue}, Secret: secretFlag(f.Name)}
		switch {
		case onCommandLine[f.Name]:
			s.Source, s.Values = "flag", given[f.Name].values
		case fromEnv.Exists(f.Name):
			s.Source, s.Values = "env", []string{fromEnv.String(f.Name)}
		case fromFile.Exists(f.Name):
			s.Source, s.Values = "file", fileValues(fromFile, f.Name)
		}
		if s.Source == "env" || s.Source == "file" {
			for _, v := range s.Values {
				if err := fs.Set(f.Name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", origin(s, path), err))
				}
			}
		}
		eff.List = append(eff.List, s)
	})
	eff.problems = errors.Join(errs...)
	return eff, nil
}

// recorder keeps what a flag was set to on the command line (a Func
// flag's own String is empty).
type recorder struct {
	flag.Value
	values []string
}

func (r *recorder) Set(v string) error {
	r.values = append(r.values, v)
	return r.Value.Set(v)
}

// IsBoolFlag keeps a bool flag usable without a value (-prewarm).
func (r *recorder) IsBoolFlag() bool {
	b, ok := r.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// fileValues is a file setting as flag values: a list gives one each (a
// repeated flag, e.g. webhook-url).
func fileValues(k *koanf.Koanf, name string) []string {
	if l, ok := k.Get(name).([]any); ok {
		out := make([]string, len(l))
		for i, v := range l {
			out[i] = fmt.Sprint(v)
		}
		return out
	}
	return []string{fmt.Sprint(k.Get(name))}
}

// origin names where a setting's value came from, for its error.
func origin(s Setting, path string) string {
	if s.Source == "env" {
		return EnvName(s.Name)
	}
	return fmt.Sprintf("--config %s: %s", path, s.Name)
}

// secretFlag says whether a flag's value is a secret (shown redacted).
func secretFlag(name string) bool {
	return strings.Contains(name, "secret") || strings.HasSuffix(name, "-key") || strings.Contains(name, "token")
}

// Print writes the effective settings as YAML (the --config format), each
// with where it came from; secrets are redacted. extra are settings that
// are not flags (secrets read from the environment).
func (e Effective) Print(w interface{ Write([]byte) (int, error) }, extra ...Setting) {
	all := append(slices.Clone(e.List), extra...)
	for _, s := range all {
		vals := slices.Clone(s.Values)
		for i, v := range vals {
			switch {
			case s.Secret && v != "":
				vals[i] = logging.Secret(v).String()
			default:
				vals[i] = redactValue(v)
			}
		}
		val := quote(vals[0])
		if len(vals) != 1 {
			quoted := make([]string, len(vals))
			for i, v := range vals {
				quoted[i] = quote(v)
			}
			val = "[" + strings.Join(quoted, ", ") + "]"
		}
		fmt.Fprintf(w, "%s: %s # %s\n", s.Name, val, s.Source)
	}
}

// redactValue hides what a setting that is not a secret may still carry:
// a URL's password (nats://user:pass@host) and anything the log backstop
// scrubs (tokens, stream keys, signatures in a webhook URL's query).
func redactValue(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			v = u.String()
		}
	}
	return logging.Redact(v)
}

// quote makes v a YAML scalar.
func quote(v string) string {
	if v == "" || strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(v) != v {
		return fmt.Sprintf("%q", v)
	}
	return v
}
