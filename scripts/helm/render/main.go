// Command render is a stand-in for `helm template`, for machines without a
// helm binary (this repository's test suite). It renders a chart with the
// engine helm itself uses, Go's text/template plus sprig v3, and implements
// the helm built-ins on top of it the way helm v3 does (pkg/engine,
// pkg/chartutil):
//
//   - .Values (chart defaults coalesced with -f files and -set-json objects,
//     numbers as float64 because helm decodes YAML through JSON), .Release,
//     .Chart, .Capabilities (APIVersions.Has, KubeVersion), .Files (Get,
//     GetBytes, Glob, Lines, AsConfig, AsSecrets), .Template;
//   - include, tpl, required, lookup (always empty, as in `helm template`),
//     toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, and
//     sprig's functions minus env/expandenv, as helm removes them;
//   - partials are files whose name starts with "_"; output that is only
//     whitespace is dropped; "<no value>" is blanked as helm does.
//
// It does not validate values against values.schema.json: it prints the
// coalesced values so the caller can (helm validates exactly those).
//
// Output is one JSON object on stdout:
//
//	{"manifests":[{"source":"chart/templates/x.yaml","content":"..."}],
//	 "notes":"...", "values":{...}}
//
// Build without modules from the Debian packages golang-1.19-go,
// golang-github-masterminds-sprig-dev and golang-gopkg-yaml.v2-dev, as
// scripts/helm/render-chart.mjs does: copy main.go and go.mod into
// $tmp/src/ws-close-agent-render, then there run
//
//	GO111MODULE=off GOPATH=$tmp:/usr/share/gocode go build -o $tmp/render .
//
// GOPATH mode resolves sprig's "/v3" import path (minimal module
// compatibility) only for a package inside a GOPATH that has a go.mod.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"gopkg.in/yaml.v2"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var valueFiles, setJSON, apiVersions stringList
	chartDir := flag.String("chart", "", "chart directory (required)")
	releaseName := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version reported by .Capabilities.KubeVersion")
	flag.Var(&valueFiles, "f", "values YAML file (repeatable; later wins)")
	flag.Var(&setJSON, "set-json", "JSON object merged over the values (repeatable; applied after -f)")
	flag.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("-chart is required"))
	}

	out, err := run(*chartDir, *releaseName, *namespace, *kubeVersion, valueFiles, setJSON, apiVersions)
	if err != nil {
		fail(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}

type manifest struct {
	Source  string `json:"source"`
	Content string `json:"content"`
}

type output struct {
	Manifests []manifest             `json:"manifests"`
	Notes     string                 `json:"notes"`
	Values    map[string]interface{} `json:"values"`
}

func run(chartDir, releaseName, namespace, kubeVersion string, valueFiles, setJSON, apiVersions []string) (*output, error) {
	meta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	chartName, _ := meta["name"].(string)
	if chartName == "" {
		return nil, errors.New("Chart.yaml: name is required")
	}

	defaults := map[string]interface{}{}
	if _, err := os.Stat(filepath.Join(chartDir, "values.yaml")); err == nil {
		if defaults, err = readYAMLMap(filepath.Join(chartDir, "values.yaml")); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		user = mergeMaps(user, m)
	}
	for _, s := range setJSON {
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("-set-json %q: %w", s, err)
		}
		user = mergeMaps(user, m)
	}
	values := coalesce(user, defaults)

	templates, files, err := loadChart(chartDir, chartName)
	if err != nil {
		return nil, err
	}

	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name":      releaseName,
			"Namespace": namespace,
			"IsInstall": true,
			"IsUpgrade": false,
			"Revision":  1,
			"Service":   "Helm",
		},
		"Chart": chartMetadata(meta),
		"Capabilities": capabilities{
			APIVersions: append(defaultAPIVersions(), apiVersions...),
			KubeVersion: parseKubeVersion(kubeVersion),
			HelmVersion: map[string]string{"Version": "v3-compatible (scripts/helm/render)"},
		},
		"Files":     files,
		"Subcharts": map[string]interface{}{},
	}
	return renderAll(chartName, templates, top, values)
}

// loadChart splits the chart's files the way helm's loader does: templates/
// into templates, everything else not reserved and not .helmignore'd into Files.
func loadChart(chartDir, chartName string) (map[string]string, files, error) {
	ignore := readHelmignore(filepath.Join(chartDir, ".helmignore"))
	templates := map[string]string{}
	fs_ := files{}
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[chartName+"/"+rel] = string(data)
		case rel == "Chart.yaml", rel == "values.yaml", rel == "values.schema.json",
			rel == "Chart.lock", rel == "requirements.yaml", rel == "requirements.lock":
		default:
			fs_[rel] = data
		}
		return nil
	})
	return templates, fs_, err
}

func readHelmignore(p string) []string {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var rules []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			rules = append(rules, line)
		}
	}
	return rules
}

// ignored applies the common subset of .helmignore: glob patterns matched
// against the path and its base name, "dir/" patterns for directories.
// Negation ("!") is not supported.
func ignored(rules []string, rel string, isDir bool) bool {
	for _, r := range rules {
		pattern := r
		if strings.HasSuffix(pattern, "/") {
			if !isDir {
				continue
			}
			pattern = strings.TrimSuffix(pattern, "/")
		}
		pattern = strings.TrimPrefix(pattern, "/")
		if ok, _ := path.Match(pattern, rel); ok {
			return true
		}
		if ok, _ := path.Match(pattern, path.Base(rel)); ok {
			return true
		}
	}
	return false
}

func renderAll(chartName string, templates map[string]string, top, values map[string]interface{}) (*output, error) {
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t))

	// helm parses deeper paths first so that shallower definitions win.
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if di != dj {
			return di > dj
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		if _, err := t.New(n).Parse(templates[n]); err != nil {
			return nil, fmt.Errorf("parse error in %s: %w", n, err)
		}
	}

	out := &output{Manifests: []manifest{}, Values: values}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": chartName + "/templates"}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, data); err != nil {
			return nil, err
		}
		rendered := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(n, "NOTES.txt") {
			out.Notes = rendered
			continue
		}
		if strings.TrimSpace(rendered) == "" {
			continue
		}
		out.Manifests = append(out.Manifests, manifest{Source: n, Content: rendered})
	}
	sort.Slice(out.Manifests, func(i, j int) bool { return out.Manifests[i].Source < out.Manifests[j].Source })
	return out, nil
}

func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")

	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		clone.Option("missingkey=zero")
		tt, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf strings.Builder
		if err := tt.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error calling tpl: %w", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(msg string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(msg)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(msg)
		}
		return val, nil
	}
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

// toYAML matches helm: sigs.k8s.io/yaml (JSON, then yaml.v2 with sorted keys),
// trailing newline trimmed, errors swallowed into "".
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yaml.Unmarshal(j, &generic); err != nil {
		return ""
	}
	out, err := yaml.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yamlToJSONValue([]byte(s), &m); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yamlToJSONValue([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(j)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return []interface{}{err.Error()}
	}
	return a
}

// yamlToJSONValue decodes YAML the way sigs.k8s.io/yaml does: YAML to JSON,
// then encoding/json, so numbers arrive as float64 and keys as strings.
func yamlToJSONValue(data []byte, target interface{}) error {
	var generic interface{}
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return err
	}
	j, err := json.Marshal(jsonable(generic))
	if err != nil {
		return err
	}
	if string(j) == "null" {
		return nil
	}
	return json.Unmarshal(j, target)
}

func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = jsonable(val)
		}
		return m
	case []interface{}:
		for i := range x {
			x[i] = jsonable(x[i])
		}
		return x
	default:
		return v
	}
}

func readYAMLMap(p string) (map[string]interface{}, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yamlToJSONValue(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// mergeMaps merges b over a (maps recursively, anything else replaced), as
// helm merges several -f files and --set values before coalescing.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]interface{}); ok {
			if av, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays user values over chart defaults; a user null deletes the
// default, as in helm's chartutil.CoalesceValues.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(defaults))
	for k, dv := range defaults {
		uv, present := user[k]
		switch {
		case !present:
			out[k] = dv
		case uv == nil:
			// deleted by the user
		default:
			um, uok := uv.(map[string]interface{})
			dm, dok := dv.(map[string]interface{})
			if uok && dok {
				out[k] = coalesce(um, dm)
			} else {
				out[k] = uv
			}
		}
	}
	for k, uv := range user {
		if _, done := defaults[k]; !done && uv != nil {
			out[k] = uv
		}
	}
	return out
}

// chartMetadata exposes Chart.yaml with the field names of helm's
// chart.Metadata struct (.Chart.Name, .Chart.AppVersion, ...).
func chartMetadata(meta map[string]interface{}) map[string]interface{} {
	special := map[string]string{"apiVersion": "APIVersion", "appVersion": "AppVersion", "kubeVersion": "KubeVersion"}
	out := map[string]interface{}{}
	for k, v := range meta {
		name, ok := special[k]
		if !ok && k != "" {
			name = strings.ToUpper(k[:1]) + k[1:]
		}
		out[name] = v
	}
	for _, k := range []string{"Version", "AppVersion", "Description", "Type"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	return out
}

type versionSet []string

// Has reports whether the API version (group/version, or
// group/version/Kind) is available, like helm's chartutil.VersionSet.
func (v versionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type kubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k kubeVersion) String() string     { return k.Version }
func (k kubeVersion) GitVersion() string { return k.Version }

type capabilities struct {
	APIVersions versionSet
	KubeVersion kubeVersion
	HelmVersion map[string]string
}

func parseKubeVersion(v string) kubeVersion {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	k := kubeVersion{Version: v}
	if len(parts) > 0 {
		k.Major = parts[0]
	}
	if len(parts) > 1 {
		k.Minor = parts[1]
	}
	return k
}

// defaultAPIVersions is what `helm template` assumes without a cluster: the
// built-in Kubernetes groups, no CRDs.
func defaultAPIVersions() versionSet {
	return versionSet{
		"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
		"apiregistration.k8s.io/v1", "apps/v1", "authentication.k8s.io/v1",
		"authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1",
		"certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
		"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1",
		"node.k8s.io/v1", "policy/v1", "rbac.authorization.k8s.io/v1",
		"scheduling.k8s.io/v1", "storage.k8s.io/v1",
	}
}

// files is helm's .Files: the chart's non-template files by relative path.
type files map[string][]byte

func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Get(name string) string      { return string(f[name]) }

// Glob matches with path.Match: "*" stops at "/", like helm's gobwas/glob
// with a "/" separator; "**" is not supported here.
func (f files) Glob(pattern string) files {
	out := files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func (f files) AsConfig() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m)
}

func (f files) AsSecrets() string {
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = base64.StdEncoding.EncodeToString(data)
	}
	return toYAML(m)
}
