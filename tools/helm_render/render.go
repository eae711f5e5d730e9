// Package main is helm_render: a small, test-only stand-in for `helm template`, built on Go's
// text/template and the sprig functions (Debian golang-github-masterminds-sprig-dev), for machines
// where Helm cannot be installed. It implements what the Switchboard chart uses and nothing more;
// a template that calls a function it does not know fails to parse (an error, never empty output).
//
// Helm behaviours reproduced (helm v3 pkg/engine, pkg/chartutil):
//   - values are read like sigs.k8s.io/yaml does (YAML -> JSON -> Go): maps are
//     map[string]interface{}, every number is a float64;
//   - -f files are deep-merged over values.yaml in order, a null deletes a key; --set is parsed
//     like helm's strvals for the simple forms (a.b=c, comma-separated, {x,y} lists, a[0]=x);
//   - missing map keys render as "<no value>", which is then replaced by "" (missingkey=zero);
//     a field of a nil value is an error ("nil pointer evaluating ...");
//   - include, tpl, required, fail, toYaml, fromYaml, fromYamlArray, toJson, fromJson, lookup
//     (always an empty map, as `helm template` without a cluster), .Files.Get/Glob/Lines/AsConfig/
//     AsSecrets, .Capabilities (KubeVersion, APIVersions.Has), .Template.Name/BasePath;
//     sprig's env and expandenv are removed, as in Helm;
//   - files under templates/ starting with "_" are partials; NOTES.txt is rendered (errors count)
//     but only printed with --notes; each output document gets a "# Source:" line and documents
//     are ordered by Helm's install order of kinds, then by file name.
//
// Not implemented (documented in docs/operations.md): rendering subcharts (an enabled dependency
// is reported on stderr and skipped), values.schema.json validation (tests/deploy does it with
// python3-jsonschema), --set-file, --set-json, toToml, .Files.AsConfig on nested paths.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	yaml "gopkg.in/yaml.v2"
)

// Options are the inputs of one render (the flags of `helm template`).
type Options struct {
	ChartDir    string
	ReleaseName string
	Namespace   string
	ValueFiles  []string
	Sets        []string
	APIVersions []string // extra API versions for .Capabilities.APIVersions.Has
	KubeVersion string   // e.g. "v1.29.0"
	IsUpgrade   bool
	Notes       bool
	Stderr      *bytes.Buffer // warnings; may be nil
}

// Document is one rendered manifest.
type Document struct {
	Source string // "<chart>/templates/<file>"
	Kind   string
	Body   string
}

// Result is the outcome of a render.
type Result struct {
	Documents []Document
	Notes     string
}

// ---- values ----

// yamlToJSONish parses YAML the way sigs.k8s.io/yaml does: through JSON, so maps have string keys
// and numbers are float64.
func yamlToJSONish(data []byte) (interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	conv, err := toStringKeys(raw)
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(conv)
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(j, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func toStringKeys(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			c, err := toStringKeys(val)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = c
		}
		return m, nil
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, val := range t {
			c, err := toStringKeys(val)
			if err != nil {
				return nil, err
			}
			l[i] = c
		}
		return l, nil
	default:
		return v, nil
	}
}

func readValuesFile(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := yamlToJSONish(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: values must be a map", file)
	}
	return m, nil
}

// mergeValues deep-merges src over dst (src wins); a nil in src deletes the key, like Helm's
// coalescing of user values over chart defaults.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = mergeValues(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// parseSetValue types a --set value like helm's strvals: true/false, null, integers (int64),
// otherwise a string.
func parseSetValue(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && !(len(s) > 1 && s[0] == '0') {
		return i
	}
	return s
}

// splitTopLevel splits on commas that are not inside {...}.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// applySet applies one --set argument ("a.b=1,c[0]=x,d={p,q}") to values.
func applySet(values map[string]interface{}, arg string) error {
	for _, assignment := range splitTopLevel(arg) {
		eq := strings.Index(assignment, "=")
		if eq <= 0 {
			return fmt.Errorf("--set %q: expected KEY=VALUE", assignment)
		}
		key, raw := assignment[:eq], assignment[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			if inner := raw[1 : len(raw)-1]; inner != "" {
				for _, item := range strings.Split(inner, ",") {
					list = append(list, parseSetValue(item))
				}
			}
			value = list
		} else {
			value = parseSetValue(raw)
		}
		if err := setPath(values, strings.Split(key, "."), value); err != nil {
			return fmt.Errorf("--set %q: %v", assignment, err)
		}
	}
	return nil
}

func setPath(m map[string]interface{}, parts []string, value interface{}) error {
	part := parts[0]
	index := -1
	if b := strings.Index(part, "["); b >= 0 && strings.HasSuffix(part, "]") {
		i, err := strconv.Atoi(part[b+1 : len(part)-1])
		if err != nil || i < 0 {
			return fmt.Errorf("bad index in %q", part)
		}
		index, part = i, part[:b]
	}
	if part == "" {
		return fmt.Errorf("empty key")
	}
	if index >= 0 {
		list, _ := m[part].([]interface{})
		for len(list) <= index {
			list = append(list, nil)
		}
		if len(parts) == 1 {
			list[index] = value
		} else {
			child, ok := list[index].(map[string]interface{})
			if !ok {
				child = map[string]interface{}{}
			}
			if err := setPath(child, parts[1:], value); err != nil {
				return err
			}
			list[index] = child
		}
		m[part] = list
		return nil
	}
	if len(parts) == 1 {
		if value == nil {
			delete(m, part)
		} else {
			m[part] = value
		}
		return nil
	}
	child, ok := m[part].(map[string]interface{})
	if !ok {
		child = map[string]interface{}{}
		m[part] = child
	}
	return setPath(child, parts[1:], value)
}

// ---- .Files ----

// Files is the chart's non-template files, as .Files in Helm.
type Files map[string][]byte

// Get returns a file's content ("" when absent, as in Helm).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Glob returns the files whose path matches the pattern (path.Match, plus "**" for any depth).
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if globMatch(pattern, name) {
			out[name] = data
		}
	}
	return out
}

func globMatch(pattern, name string) bool {
	if strings.Contains(pattern, "**") {
		prefix := pattern[:strings.Index(pattern, "**")]
		rest := strings.TrimPrefix(pattern[len(prefix)+2:], "/")
		if !strings.HasPrefix(name, prefix) {
			return false
		}
		ok, _ := path.Match(rest, path.Base(name))
		return rest == "" || ok
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// Lines splits a file into lines.
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// AsConfig renders the files as the data of a ConfigMap (base name -> content), like Helm.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

// AsSecrets renders the files base64-encoded, as the data of a Secret.
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}

// ---- capabilities ----

// APIVersions answers .Capabilities.APIVersions.Has.
type APIVersions []string

// Has reports whether "group/version" or "group/version/Kind" is known.
func (a APIVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// The built-in API versions `helm template` assumes without a cluster (the core ones).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1",
	"apiextensions.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
}

// ---- functions ----

func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	data, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	v, err := yamlToJSONish([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return map[string]interface{}{}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	v, err := yamlToJSONish([]byte(s))
	if err != nil {
		return []interface{}{err.Error()}
	}
	l, _ := v.([]interface{})
	return l
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func required(msg string, v interface{}) (interface{}, error) {
	if v == nil {
		return nil, fmt.Errorf(msg)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, fmt.Errorf(msg)
	}
	return v, nil
}

func fail(msg string) (string, error) { return "", fmt.Errorf(msg) }

// ---- rendering ----

type renderer struct {
	opts    Options
	chart   map[string]interface{}
	files   Files
	sources map[string]string // template name -> text
	tmpl    *template.Template
	depth   int
}

const maxIncludeDepth = 1000

func (r *renderer) funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = required
	f["fail"] = fail
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil // helm template: no cluster, always empty
	}
	// Bound late (they need the template set): placeholders so that parsing succeeds.
	f["include"] = func(string, interface{}) (string, error) { return "", nil }
	f["tpl"] = func(string, interface{}) (string, error) { return "", nil }
	return f
}

func (r *renderer) bindLateFuncs() {
	r.tmpl.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			r.depth++
			defer func() { r.depth-- }()
			if r.depth > maxIncludeDepth {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			var buf bytes.Buffer
			if err := r.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
				return "", err
			}
			return buf.String(), nil
		},
		"tpl": func(text string, data interface{}) (string, error) {
			t, err := r.tmpl.Clone()
			if err != nil {
				return "", err
			}
			t, err = t.New("tpl").Option("missingkey=zero").Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %v", text, err)
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, data); err != nil {
				return "", fmt.Errorf("error calling tpl: %v", err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	})
}

func loadChart(dir string) (map[string]interface{}, map[string]string, Files, error) {
	chartData, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, nil, nil, err
	}
	meta, err := yamlToJSONish(chartData)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	chart, ok := meta.(map[string]interface{})
	if !ok {
		return nil, nil, nil, fmt.Errorf("Chart.yaml: not a map")
	}
	// Helm exposes Chart.yaml fields capitalised (.Chart.Name, .Chart.AppVersion, ...).
	caps := map[string]interface{}{}
	for k, v := range chart {
		caps[strings.ToUpper(k[:1])+k[1:]] = v
	}
	name, _ := chart["name"].(string)
	if name == "" {
		return nil, nil, nil, fmt.Errorf("Chart.yaml: name is required")
	}
	sources := map[string]string{}
	files := Files{}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			sources[name+"/"+rel] = string(data)
		} else if rel != "Chart.yaml" && rel != "values.yaml" && rel != "values.schema.json" {
			files[rel] = data
		}
		return nil
	})
	return caps, sources, files, err
}

// installOrder is Helm's releaseutil.InstallOrder.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder) // unknown kinds (CRs) last, as Helm does
}

// Render renders the chart.
func Render(opts Options) (*Result, error) {
	chart, sources, files, err := loadChart(opts.ChartDir)
	if err != nil {
		return nil, err
	}
	values, err := readValuesFile(filepath.Join(opts.ChartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range opts.ValueFiles {
		over, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		values = mergeValues(values, over)
	}
	for _, s := range opts.Sets {
		over := map[string]interface{}{}
		if err := applySet(over, s); err != nil {
			return nil, err
		}
		// Like Helm, --set numbers stay int64 (file values are float64).
		values = mergeValues(values, over)
	}
	if err := checkDependencies(chart, values, opts.Stderr); err != nil {
		return nil, err
	}

	r := &renderer{opts: opts, chart: chart, files: files, sources: sources}
	r.tmpl = template.New("chart").Option("missingkey=zero").Funcs(r.funcMap())
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := r.tmpl.New(n).Parse(sources[n]); err != nil {
			return nil, err
		}
	}
	r.bindLateFuncs()

	kube := opts.KubeVersion
	if kube == "" {
		kube = "v1.29.0"
	}
	major, minor := "1", "29"
	if parts := strings.Split(strings.TrimPrefix(kube, "v"), "."); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	apis := append(APIVersions{}, defaultAPIVersions...)
	apis = append(apis, opts.APIVersions...)
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	chartName := chart["Name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": opts.ReleaseName, "Namespace": ns, "Service": "Helm",
			"IsInstall": !opts.IsUpgrade, "IsUpgrade": opts.IsUpgrade, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": kube, "Major": major, "Minor": minor, "GitVersion": kube,
			},
			"APIVersions": apis,
			"HelmVersion": map[string]interface{}{"Version": "v3.14.0-helm_render"},
		},
		"Files": files,
	}

	res := &Result{}
	type ranked struct {
		doc  Document
		rank int
		file string
		seq  int
	}
	var out []ranked
	seq := 0
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{
			"Name": n, "BasePath": chartName + "/templates",
		}
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			res.Notes = text
			continue
		}
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") &&
			!strings.HasSuffix(base, ".tpl") {
			continue
		}
		for _, doc := range splitDocuments(text) {
			var head struct {
				Kind string `yaml:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return nil, fmt.Errorf("%s: rendered YAML does not parse: %v\n%s", n, err, doc)
			}
			out = append(out, ranked{Document{n, head.Kind, doc}, kindRank(head.Kind), n, seq})
			seq++
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].rank != out[j].rank {
			return out[i].rank < out[j].rank
		}
		return out[i].seq < out[j].seq
	})
	for _, o := range out {
		res.Documents = append(res.Documents, o.doc)
	}
	return res, nil
}

// splitDocuments splits on "---" lines and drops documents that hold only whitespace/comments.
func splitDocuments(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		body := strings.Trim(strings.Join(cur, "\n"), "\n")
		meaningful := false
		for _, l := range strings.Split(body, "\n") {
			t := strings.TrimSpace(l)
			if t != "" && !strings.HasPrefix(t, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, body)
		}
		cur = nil
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// checkDependencies reports enabled dependencies (their condition is true or absent): Helm
// would render them from charts/; this renderer does not render subcharts.
func checkDependencies(chart, values map[string]interface{}, stderr *bytes.Buffer) error {
	deps, _ := chart["Dependencies"].([]interface{})
	for _, d := range deps {
		dep, _ := d.(map[string]interface{})
		name, _ := dep["name"].(string)
		cond, _ := dep["condition"].(string)
		enabled := true
		if cond != "" {
			enabled = false
			for _, c := range strings.Split(cond, ",") {
				var cur interface{} = values
				for _, p := range strings.Split(strings.TrimSpace(c), ".") {
					m, ok := cur.(map[string]interface{})
					if !ok {
						cur = nil
						break
					}
					cur = m[p]
				}
				if b, ok := cur.(bool); ok {
					enabled = b
					break
				}
			}
		}
		if enabled && stderr != nil {
			fmt.Fprintf(stderr, "helm_render: note: dependency %q is enabled; subcharts are not "+
				"rendered by this renderer (helm template would render charts/%s)\n", name, name)
		}
	}
	return nil
}

// Format writes the result like `helm template`.
func Format(res *Result, notes bool) string {
	var b strings.Builder
	for _, d := range res.Documents {
		b.WriteString("---\n# Source: ")
		b.WriteString(d.Source)
		b.WriteString("\n")
		b.WriteString(d.Body)
		b.WriteString("\n")
	}
	if notes && res.Notes != "" {
		b.WriteString("\nNOTES:\n")
		b.WriteString(res.Notes)
	}
	return b.String()
}
