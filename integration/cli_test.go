//go:build linux

package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVersion checks the --version / -v output lines.
func TestVersion(t *testing.T) {
	h := newHarness(t)
	name := filepath.Base(huskBinary)
	wantVersion := ""
	if name == "husk" {
		data, err := os.ReadFile(filepath.Join(repoRoot, "VERSION"))
		if err != nil {
			t.Fatalf("read VERSION: %v", err)
		}
		wantVersion = strings.TrimSpace(string(data))
	}
	for _, flag := range []string{"--version", "-v"} {
		out, errOut, code := h.runRaw(flag)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", flag, code, errOut)
			continue
		}
		lines := nonEmptyLines(out)
		if len(lines) == 0 {
			t.Errorf("%s printed nothing", flag)
			continue
		}
		first := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + ` version (\S+)$`).FindStringSubmatch(lines[0])
		if first == nil {
			t.Errorf("%s: first line %q, want %q", flag, lines[0], name+" version X")
		} else if wantVersion != "" && first[1] != wantVersion {
			t.Errorf("%s: version %q, want %q (VERSION file)", flag, first[1], wantVersion)
		}
		for _, prefix := range []string{"commit: ", "spec: ", "go: ", "libseccomp: "} {
			found := false
			for _, l := range lines[1:] {
				if strings.HasPrefix(l, prefix) && len(strings.TrimSpace(strings.TrimPrefix(l, prefix))) > 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no %q line in %q", flag, prefix, out)
			}
		}
	}
}

// TestFlagForms: flags after positional arguments, single-dash long flags,
// and --flag=false all parse as in the reference runtime.
func TestFlagForms(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))

	// Flag after the container ID.
	h.mustRun("create", id, "--bundle", b.Dir)
	// Single-dash global and command flags.
	out, errOut, code := h.runRaw("-root", h.root, "state", id)
	if code != 0 || !strings.Contains(out, `"created"`) {
		t.Errorf("-root ... state: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	h.start(id)
	// --flag=false: a boolean switched off explicitly.
	if _, errOut, code := h.run("--debug=false", "delete", "--force=false", id); code != 1 {
		t.Errorf("delete --force=false of a running container: exit %d (stderr %q), want 1", code, errOut)
	}
	if st := h.state(id); st.Status != "running" {
		t.Errorf("after delete --force=false: status %q, want running", st.Status)
	}
	h.mustRun("delete", "-force", id)
	_, errOut, code = h.run("state", id)
	expectError(t, errOut, code, "container does not exist")
}

// logLine is one --log-format json line as containerd decodes it.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Time  string `json:"time"`
}

// checkJSONLog decodes every line of a --log-format json file, requiring
// level, msg and an RFC 3339 time on each, and returns the last error
// message.
func checkJSONLog(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("open log: %v", err)
		return ""
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("log line is not a JSON object: %v: %q", err, line)
			continue
		}
		for _, k := range []string{"level", "msg", "time"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %q: %q", k, line)
			}
		}
		var l logLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Errorf("log line fields: %v: %q", err, line)
			continue
		}
		if _, err := time.Parse(time.RFC3339, l.Time); err != nil {
			t.Errorf("log time %q is not RFC 3339: %v", l.Time, err)
		}
		if l.Level == "error" {
			last = l.Msg
		}
	}
	if err := sc.Err(); err != nil {
		t.Errorf("read log: %v", err)
	}
	return last
}

// TestLogJSON checks --log FILE --log-format json in both spellings
// clients use, and that the error also reaches stderr.
func TestLogJSON(t *testing.T) {
	forms := map[string]func(log string) []string{
		"separate": func(log string) []string { return []string{"--log", log, "--log-format", "json"} },
		"equals":   func(log string) []string { return []string{"--log-format=json", "--log", log} },
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			id := h.newID()
			log := filepath.Join(t.TempDir(), "log.json")
			args := append(form(log), "delete", id)
			_, errOut, code := h.run(args...)
			if code != 1 {
				t.Errorf("delete of unknown id: exit %d, want 1", code)
			}
			if msg := checkJSONLog(t, log); !strings.Contains(msg, "container does not exist") {
				t.Errorf("last error in log = %q, want it to contain %q", msg, "container does not exist")
			}
			if !strings.Contains(errorMessage(errOut), "container does not exist") {
				t.Errorf("stderr %q lacks the error", errOut)
			}
		})
	}
}
