//go:build linux

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// TestBadInput: every invalid bundle makes create and run exit 1 with one
// readable error line (also the last error of the JSON log) and leaves no
// container, state, mount, cgroup or process behind.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, b *bundle.Bundle)
		want  []string // substrings of the error message
		fold  bool     // match want case-insensitively
	}{
		{
			name:  "invalid-json",
			setup: func(t *testing.T, b *bundle.Bundle) { b.WriteRaw(t, []byte(`{"ociVersion": "1.0.2-dev", "process": `)) },
			want:  []string{"config"},
			fold:  true,
		},
		{
			name: "unsupported-ociversion",
			setup: func(t *testing.T, b *bundle.Bundle) {
				b.Update(t, func(s *specs.Spec) { s.Version = "2.0.0" })
			},
			want: []string{"version", "2.0.0"},
			fold: true,
		},
		{
			name: "missing-rootfs",
			setup: func(t *testing.T, b *bundle.Bundle) {
				if err := os.RemoveAll(b.Rootfs); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"rootfs", "no such file or directory"},
		},
		{
			name: "nonexistent-binary",
			setup: func(t *testing.T, b *bundle.Bundle) {
				b.Update(t, func(s *specs.Spec) { s.Process.Args = []string{"/x"} })
			},
			want: []string{`exec: "/x": stat /x: no such file or directory`},
		},
		{
			name: "not-in-path",
			setup: func(t *testing.T, b *bundle.Bundle) {
				b.Update(t, func(s *specs.Spec) { s.Process.Args = []string{"no-such-command"} })
			},
			want: []string{`exec: "no-such-command": executable file not found in $PATH`},
		},
		{
			name: "non-executable-binary",
			setup: func(t *testing.T, b *bundle.Bundle) {
				writeFile(t, b, "etc/not-exec", "#!/bin/sh\necho no\n", 0o644)
				b.Update(t, func(s *specs.Spec) { s.Process.Args = []string{"/etc/not-exec"} })
			},
			want: []string{`exec: "/etc/not-exec": permission denied`},
		},
	}
	for _, c := range cases {
		for _, cmd := range []string{"create", "run"} {
			t.Run(c.name+"/"+cmd, func(t *testing.T) {
				h := newHarness(t)
				id := h.newID()
				// A process that exits at once: a runtime that wrongly
				// accepts the bundle must not leave the test hanging.
				b := h.newBundle(id, []string{"true", id})
				c.setup(t, b)
				log := filepath.Join(t.TempDir(), "log.json")
				out, errOut, code := h.run("--log", log, "--log-format", "json", cmd, "--bundle", b.Dir, id)
				if code != 1 {
					t.Errorf("%s: exit %d, want 1 (stdout %q)", cmd, code, out)
				}
				if n := len(nonEmptyLines(errOut)); n != 1 {
					t.Errorf("%s: stderr has %d lines, want 1: %q", cmd, n, errOut)
				}
				msg, logMsg := errorMessage(errOut), checkJSONLog(t, log)
				for _, w := range c.want {
					if !contains(msg, w, c.fold) {
						t.Errorf("%s: stderr error %q lacks %q", cmd, msg, w)
					}
					if !contains(logMsg, w, c.fold) {
						t.Errorf("%s: last log error %q lacks %q", cmd, logMsg, w)
					}
				}
				_, errOut, code = h.run("state", id)
				expectError(t, errOut, code, "container does not exist")
			})
		}
	}
}

func contains(s, sub string, fold bool) bool {
	if fold {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	return strings.Contains(s, sub)
}
