package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart makes a chart in a temp dir from path -> content.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["Chart.yaml"]; !ok {
		files["Chart.yaml"] = "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"0.9\"\n"
	}
	if _, ok := files["values.yaml"]; !ok {
		files["values.yaml"] = "{}\n"
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func render(t *testing.T, dir string, mod func(*Options)) (string, error) {
	t.Helper()
	opts := Options{ChartDir: dir, ReleaseName: "rel", Namespace: "ns"}
	if mod != nil {
		mod(&opts)
	}
	res, err := Render(opts)
	if err != nil {
		return "", err
	}
	return Format(res, true), nil
}

func mustRender(t *testing.T, dir string, mod func(*Options)) string {
	t.Helper()
	out, err := render(t, dir, mod)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return out
}

func TestHelmBuiltinsAndFormatting(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml": "replicas: 3\nbig: 1000000\nratio: 0.5\nlabels: {b: two, a: one}\nlist: [x, \"y\", n]\n" + // unquoted y/n are booleans (YAML 1.1), as in Helm
			"msg: \"{{ .Release.Name }}-tpl\"\n",
		"templates/_helpers.tpl": `{{- define "demo.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}`,
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "demo.name" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- toYaml .Values.labels | nindent 4 }}
data:
  replicas: "{{ .Values.replicas }}"
  big: "{{ .Values.big }}"
  ratio: "{{ .Values.ratio }}"
  missing: "{{ .Values.nothing }}"
  tpl: {{ tpl .Values.msg . | quote }}
  file: {{ .Files.Get "files/a.txt" | trim | quote }}
  version: {{ .Chart.AppVersion | quote }}
  kube: {{ .Capabilities.KubeVersion.Minor | quote }}
  hasMon: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
  template: {{ .Template.Name | quote }}
  lookup: {{ lookup "v1" "Secret" "ns" "x" | len | quote }}
  list: |
    {{- toYaml .Values.list | nindent 4 }}
`,
		"templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
		"files/a.txt":         "hello\n",
	})
	out := mustRender(t, dir, nil)
	for _, want := range []string{
		"---\n# Source: demo/templates/cm.yaml\napiVersion: v1",
		"name: demo-rel", "namespace: ns", "labels:\n    a: one\n    b: two",
		`replicas: "3"`, `big: "1e+06"`, `ratio: "0.5"`, `missing: ""`, `tpl: "rel-tpl"`,
		`file: "hello"`, `version: "0.9"`, `kube: "29"`, `hasMon: "false"`,
		`template: "demo/templates/cm.yaml"`, `lookup: "0"`, "list: |\n    - x\n    - \"y\"\n    - false",
		"NOTES:\nInstalled rel.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "_helpers") {
		t.Errorf("partials must not be output:\n%s", out)
	}
}

func TestUnknownFunctionIsAnError(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/x.yaml": "a: {{ toToml .Values }}\n",
	})
	if _, err := render(t, dir, nil); err == nil || !strings.Contains(err.Error(), `"toToml" not defined`) {
		t.Fatalf("want an undefined-function error, got %v", err)
	}
	dir = writeChart(t, map[string]string{"templates/x.yaml": "a: {{ env \"HOME\" }}\n"})
	if _, err := render(t, dir, nil); err == nil {
		t.Fatal("env must not exist (Helm removes it)")
	}
}

func TestRequiredFailAndNilPointer(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/x.yaml": "a: {{ required \"kafka.bootstrap is required\" .Values.kafka }}\n",
	})
	if _, err := render(t, dir, nil); err == nil || !strings.Contains(err.Error(), "kafka.bootstrap is required") {
		t.Fatalf("required: got %v", err)
	}
	mustRender(t, dir, func(o *Options) { o.Sets = []string{"kafka=k:9092"} })

	dir = writeChart(t, map[string]string{"templates/x.yaml": "{{ fail \"nope\" }}\n"})
	if _, err := render(t, dir, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("fail: got %v", err)
	}
	dir = writeChart(t, map[string]string{"templates/x.yaml": "a: {{ .Values.missing.deeper }}\n"})
	if _, err := render(t, dir, nil); err == nil || !strings.Contains(err.Error(), "nil pointer") {
		t.Fatalf("field of a missing value must be an error like in Helm, got %v", err)
	}
	dir = writeChart(t, map[string]string{"templates/x.yaml": "a: {{ include \"nope\" . }}\n"})
	if _, err := render(t, dir, nil); err == nil {
		t.Fatal("include of an undefined template must be an error")
	}
}

func TestValuesMergeAndSet(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"values.yaml": "a: {b: 1, c: 2, keep: k}\nlist: [1, 2]\ngone: yes\n",
		"templates/x.yaml": "a: {{ toJson .Values.a }}\nlist: {{ toJson .Values.list }}\n" +
			"gone: {{ hasKey .Values \"gone\" }}\nn: {{ .Values.n }}\nt: {{ kindOf .Values.t }}\n" +
			"s: {{ .Values.s }}\nl: {{ toJson .Values.l }}\nidx: {{ toJson .Values.arr }}\n",
	})
	over := filepath.Join(t.TempDir(), "over.yaml")
	if err := os.WriteFile(over, []byte("a: {c: 3}\nlist: [9]\ngone: null\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRender(t, dir, func(o *Options) {
		o.ValueFiles = []string{over}
		o.Sets = []string{"a.b=7,n=42,t=true", "s=hello", "l={x,y}", "arr[1].name=z"}
	})
	for _, want := range []string{
		`a: {"b":7,"c":3,"keep":"k"}`, "list: [9]", "gone: false", "n: 42", "t: bool",
		"s: hello", `l: ["x","y"]`, `idx: [null,{"name":"z"}]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := render(t, dir, func(o *Options) { o.Sets = []string{"novalue"} }); err == nil {
		t.Error("--set without = must be an error")
	}
}

func TestDocumentsSplitOrderedAndEmptyDropped(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"templates/a-deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
		"templates/b-svc.yaml": "---\n# only a comment\n---\napiVersion: v1\nkind: Service\n" +
			"metadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"templates/c-off.yaml": "{{- if .Values.on }}\nkind: Secret\n{{- end }}\n",
	})
	out := mustRender(t, dir, nil)
	ci, si, di := strings.Index(out, "kind: ConfigMap"), strings.Index(out, "kind: Service"),
		strings.Index(out, "kind: Deployment")
	if !(ci >= 0 && ci < si && si < di) {
		t.Errorf("want ConfigMap < Service < Deployment (Helm's install order):\n%s", out)
	}
	if strings.Count(out, "# Source:") != 3 || strings.Contains(out, "only a comment") {
		t.Errorf("want exactly 3 documents:\n%s", out)
	}
}

func TestBadYAMLOutputIsAnError(t *testing.T) {
	dir := writeChart(t, map[string]string{"templates/x.yaml": "a: [unclosed\n"})
	if _, err := render(t, dir, nil); err == nil || !strings.Contains(err.Error(), "does not parse") {
		t.Fatalf("got %v", err)
	}
}

func TestFilesGlobAsConfig(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"files/p/one.yaml": "x: 1\n", "files/p/two.yaml": "y: 2\n", "files/other.txt": "z",
		"templates/cm.yaml": "data:\n{{ (.Files.Glob \"files/p/*.yaml\").AsConfig | indent 2 }}\n",
	})
	out := mustRender(t, dir, nil)
	if !strings.Contains(out, "  one.yaml: |\n    x: 1\n  two.yaml: |\n    y: 2") ||
		strings.Contains(out, "other.txt") {
		t.Errorf("Glob/AsConfig:\n%s", out)
	}
}

func TestDependencyNote(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n" +
			"- name: postgresql\n  version: 15.x.x\n  repository: oci://x\n  condition: postgresql.enabled\n",
		"values.yaml":      "postgresql: {enabled: false}\n",
		"templates/x.yaml": "a: b\n",
	})
	var notes bytes.Buffer
	res, err := Render(Options{ChartDir: dir, ReleaseName: "r", Stderr: &notes})
	if err != nil || len(res.Documents) != 1 || notes.Len() != 0 {
		t.Fatalf("disabled dependency: %v %q", err, notes.String())
	}
	res, err = Render(Options{ChartDir: dir, ReleaseName: "r", Stderr: &notes,
		Sets: []string{"postgresql.enabled=true"}})
	if err != nil || !strings.Contains(notes.String(), `dependency "postgresql" is enabled`) {
		t.Fatalf("enabled dependency must be reported: %v %q", err, notes.String())
	}
}
