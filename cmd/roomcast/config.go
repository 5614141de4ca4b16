package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/roomcast/roomcast/internal/config"
)

// configPrint prints the effective settings of serve (or, after
// "worker", of a worker) for the given flags, environment and --config
// file, as YAML with where each came from; secrets are redacted.
func configPrint(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		return fmt.Errorf("usage: roomcast config print [serve|worker] [flags]")
	}
	args = args[1:]
	which := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "worker") {
		which, args = args[0], args[1:]
	}
	var eff config.Effective
	var err error
	if which == "worker" {
		var w config.Worker
		w, err = config.LoadWorker(args)
		eff = w.Settings
	} else {
		var c config.Config
		c, err = config.Load(args)
		eff = c.Settings
	}
	if len(eff.List) == 0 && err != nil {
		return err // the command line itself is wrong
	}
	fmt.Fprintf(stdout, "# roomcast %s: the effective settings (flags over ROOMCAST_* environment over --config file)\n", which)
	eff.Print(stdout, envSecret("secret"), envSecret("webhook-secret"))
	return err
}

// envSecret is a secret that is read from the environment only.
func envSecret(name string) config.Setting {
	v, src := os.Getenv(config.EnvName(name)), "env"
	if v == "" {
		src = "unset"
	}
	return config.Setting{Name: name, Values: []string{v}, Source: src, Secret: true}
}

// version prints the build: the module version, the commit and the Go
// release it was built with.
func version(stdout io.Writer) error {
	v, commit, when := "(devel)", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "roomcast %s commit %s %s %s %s/%s\n", v, commit, when, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
