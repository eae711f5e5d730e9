package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const usage = `helm_render: render a Helm chart like "helm template" (test-only; see render.go).

Usage: helm_render [flags] RELEASE_NAME CHART_DIR

Flags:
`

func main() {
	var opts Options
	var values, sets, apis multiFlag
	fs := flag.NewFlagSet("helm_render", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		fs.PrintDefaults()
	}
	fs.Var(&values, "f", "values file (repeatable; later files win)")
	fs.Var(&values, "values", "same as -f")
	fs.Var(&sets, "set", "KEY=VALUE[,KEY=VALUE] (repeatable)")
	fs.Var(&apis, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	fs.StringVar(&opts.Namespace, "namespace", "default", "release namespace")
	fs.StringVar(&opts.KubeVersion, "kube-version", "v1.29.0", "Kubernetes version for .Capabilities")
	fs.BoolVar(&opts.IsUpgrade, "is-upgrade", false, "set .Release.IsUpgrade instead of IsInstall")
	fs.BoolVar(&opts.Notes, "notes", false, "print the rendered NOTES.txt after the manifests")
	// Go's flag package stops at the first positional argument; helm takes flags anywhere.
	var positional []string
	args := os.Args[1:]
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			os.Exit(2)
		}
		args = fs.Args()
		if len(args) > 0 {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	if len(positional) != 2 {
		fs.Usage()
		os.Exit(2)
	}
	opts.ReleaseName, opts.ChartDir = positional[0], positional[1]
	opts.ValueFiles, opts.Sets, opts.APIVersions = values, sets, apis
	var warnings bytes.Buffer
	opts.Stderr = &warnings
	res, err := Render(opts)
	os.Stderr.Write(warnings.Bytes())
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
	fmt.Print(Format(res, opts.Notes))
}
