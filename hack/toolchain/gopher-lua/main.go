// Command argocd-lua-health checks Argo CD resource health scripts against their test cases,
// in the Lua VM Argo CD uses (gopher-lua, at the version Argo CD pins) and under Argo CD's
// rules for running them.
//
// Usage:
//
//	argocd-lua-health [-json] [-libs configured|builtin|both] DIR...
//
// Every health.lua under each DIR is run on every case of the health_test.yaml beside it
// (Argo CD's upstream layout: resource_customizations/<group>/<Kind>/health.lua,
// health_test.yaml with tests: [{healthStatus: {status, message}, inputPath}], testdata/).
// A case passes when the script returns exactly the expected status and message.
//
// The libraries decide what a script may call, so each case runs in two set-ups:
//
//   - configured: a script set in argocd-cm (resource.customizations.health.<group>_<Kind>)
//     without useOpenLibs, which is how users install ours. Argo CD opens only the package,
//     base and table libraries and a "safe os" (os.time and os.date, reached only through
//     require("os")): no string, no math, no io.
//   - builtin: a script shipped in Argo CD's own resource_customizations/; it gets every
//     library (that is also how Argo CD's own health_test.yaml cases run).
//
// Both set-ups give the script 1 s (a context deadline, as in Argo CD) and the object as the
// global obj, decoded as Argo CD decodes it. The result goes through Argo CD's conversion:
// a table is encoded to JSON and read as {status, message}; nil is an empty status; a status
// that is not a health code becomes Unknown with Argo CD's message.
//
// Output is one line per case (ok or FAIL) and a summary, or with -json one JSON array of
// the cases. Exit status: 0 all passed, 1 some case failed, 2 usage or file errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

// Argo CD's constants (util/lua/lua.go, gitops-engine pkg/health).
const (
	scriptTimeout       = 1 * time.Second
	invalidHealthStatus = "Lua returned an invalid health status"
	healthScriptFile    = "health.lua"
	healthTestFile      = "health_test.yaml"
)

var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

// HealthStatus is Argo CD's health.HealthStatus.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// testFile is health_test.yaml.
type testFile struct {
	Tests []struct {
		HealthStatus HealthStatus `json:"healthStatus"`
		InputPath    string       `json:"inputPath"`
	} `json:"tests"`
}

// result is one case in one set-up.
type result struct {
	Script string        `json:"script"` // the script's directory, relative to DIR
	Input  string        `json:"input"`  // inputPath, as health_test.yaml names it
	Libs   string        `json:"libs"`   // configured or builtin
	Want   HealthStatus  `json:"want"`
	Got    *HealthStatus `json:"got,omitempty"`
	Error  string        `json:"error,omitempty"`
	OK     bool          `json:"ok"`
}

func main() {
	asJSON := flag.Bool("json", false, "print the cases as one JSON array")
	libs := flag.String("libs", "both", "set-ups to run: configured, builtin or both")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua-health [-json] [-libs configured|builtin|both] DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	var setups []bool // openLibs per set-up
	switch *libs {
	case "configured":
		setups = []bool{false}
	case "builtin":
		setups = []bool{true}
	case "both":
		setups = []bool{false, true}
	default:
		flag.Usage()
		os.Exit(2)
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}

	var results []result
	for _, root := range flag.Args() {
		found, err := checkTree(root, setups)
		if err != nil {
			fmt.Fprintln(os.Stderr, "argocd-lua-health:", err)
			os.Exit(2)
		}
		results = append(results, found...)
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if *asJSON {
		out, _ := json.MarshalIndent(results, "", "  ")
		fmt.Println(string(out))
	} else {
		for _, r := range results {
			fmt.Println(describe(r))
		}
		fmt.Printf("%d cases, %d failed\n", len(results), failed)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "argocd-lua-health: no health.lua found")
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func describe(r result) string {
	name := fmt.Sprintf("%s %s (%s)", r.Script, r.Input, r.Libs)
	if r.OK {
		return fmt.Sprintf("ok   %s: %s %q", name, r.Want.Status, r.Want.Message)
	}
	if r.Error != "" {
		return fmt.Sprintf("FAIL %s: error: %s", name, r.Error)
	}
	return fmt.Sprintf("FAIL %s:\n       want %s %q\n       got  %s %q",
		name, r.Want.Status, r.Want.Message, r.Got.Status, r.Got.Message)
}

// checkTree runs every health.lua under root on its cases, in every set-up.
func checkTree(root string, setups []bool) ([]result, error) {
	var scripts []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == healthScriptFile {
			scripts = append(scripts, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(scripts)
	var results []result
	for _, path := range scripts {
		dir := filepath.Dir(path)
		rel, _ := filepath.Rel(root, dir)
		script, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var tests testFile
		if err := readYAML(filepath.Join(dir, healthTestFile), &tests, true); err != nil {
			return nil, err
		}
		if len(tests.Tests) == 0 {
			return nil, fmt.Errorf("%s: no tests", filepath.Join(dir, healthTestFile))
		}
		for _, tc := range tests.Tests {
			var obj map[string]any
			if err := readYAML(filepath.Join(dir, tc.InputPath), &obj, false); err != nil {
				return nil, err
			}
			for _, openLibs := range setups {
				r := result{Script: filepath.ToSlash(rel), Input: tc.InputPath, Want: tc.HealthStatus,
					Libs: map[bool]string{false: "configured", true: "builtin"}[openLibs]}
				got, err := executeHealthLua(obj, string(script), openLibs)
				if err != nil {
					r.Error = err.Error()
				} else {
					r.Got = got
					r.OK = *got == tc.HealthStatus
				}
				results = append(results, r)
			}
		}
	}
	return results, nil
}

// readYAML decodes a YAML file as Argo CD's tests do (sigs.k8s.io/yaml: YAML to JSON, so
// numbers become float64); strict refuses unknown fields, to catch a misspelt key.
func readYAML(path string, into any, strict bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strict {
		err = yaml.UnmarshalStrict(data, into)
	} else {
		err = yaml.Unmarshal(data, into)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// executeHealthLua is Argo CD's VM.runLua followed by VM.ExecuteHealthLua.
func executeHealthLua(obj map[string]any, script string, openLibs bool) (*HealthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	for _, pair := range []struct {
		n string
		f lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, OpenSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(pair.f), NRet: 0, Protect: true},
			lua.LString(pair.n)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, SafeOsLoader)

	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)

	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = "" // as Argo CD does: the message reaches the user
			return nil, apiErr
		}
		return nil, err
	}

	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return &HealthStatus{}, nil
	case lua.LTTable:
	default:
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
	}
	data, err := luajson.Encode(ret)
	if err != nil {
		return nil, err
	}
	status := &HealthStatus{}
	if err := json.Unmarshal(data, status); err != nil {
		// Argo CD means an empty table (encoded as []) but its errors.As matches any type
		// error, e.g. a number as message: both give an empty status.
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &HealthStatus{}, nil
		}
		return nil, err
	}
	if !healthCodes[status.Status] {
		return &HealthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
	}
	return status, nil
}

// decodeValue is Argo CD's decodeValue: Go values from the decoded object to Lua values.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}
