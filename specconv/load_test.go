package specconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bundleWith creates a bundle holding a rootfs directory and the given
// config.json content; it returns the bundle path.
func bundleWith(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exampleJSON returns Example() as JSON after applying edit to its decoded
// generic form, so tests can remove fields or give them the wrong type.
func exampleJSON(t *testing.T, edit func(m map[string]any)) string {
	t.Helper()
	data, err := Marshal(Example())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func process(m map[string]any) map[string]any { return m["process"].(map[string]any) }

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string
	}{
		{"invalid json", `{"ociVersion": "1.0.2-dev",`, "parse config.json: unexpected end of JSON input"},
		{"garbage", `ociVersion`, "parse config.json: invalid character 'o' looking for beginning of value"},
		{"args wrong type", exampleJSON(t, func(m map[string]any) { process(m)["args"] = "sh" }),
			"parse config.json: json: cannot unmarshal string into Go struct field Process.process.args of type []string"},
		{"uid wrong type", exampleJSON(t, func(m map[string]any) {
			process(m)["user"] = map[string]any{"uid": "root", "gid": 0}
		}), "parse config.json: json: cannot unmarshal string into Go struct field User.process.user.uid of type uint32"},
		{"namespaces wrong type", exampleJSON(t, func(m map[string]any) {
			m["linux"].(map[string]any)["namespaces"] = map[string]any{}
		}), "parse config.json: json: cannot unmarshal object into Go struct field Linux.linux.namespaces of type []specs.LinuxNamespace"},
		{"no user", exampleJSON(t, func(m map[string]any) { delete(process(m), "user") }), "process.user must be specified"},
		{"no uid", exampleJSON(t, func(m map[string]any) {
			process(m)["user"] = map[string]any{"gid": 0}
		}), "process.user.uid must be specified"},
		{"no gid", exampleJSON(t, func(m map[string]any) {
			process(m)["user"] = map[string]any{"uid": 0}
		}), "process.user.gid must be specified"},
		{"unsupported version", exampleJSON(t, func(m map[string]any) { m["ociVersion"] = "2.0.0" }),
			`unsupported spec version "2.0.0"`},
		{"missing rootfs", exampleJSON(t, func(m map[string]any) {
			m["root"] = map[string]any{"path": "nope"}
		}), "/nope: no such file or directory"},
		{"rootfs is a file", exampleJSON(t, func(m map[string]any) {
			m["root"] = map[string]any{"path": ConfigFile}
		}), "/config.json is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := bundleWith(t, tc.config)
			_, _, err := Load(dir)
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingConfig(t *testing.T) {
	dir := t.TempDir()
	_, _, err := Load(dir)
	want := "JSON specification file " + filepath.Join(dir, ConfigFile) + " not found"
	if err == nil || err.Error() != want {
		t.Fatalf("Load = %v, want %q", err, want)
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	config := exampleJSON(t, func(m map[string]any) {
		m["root"] = map[string]any{"path": "link"}
		mounts := m["mounts"].([]any)
		m["mounts"] = append(mounts, map[string]any{"destination": "tmp", "type": "tmpfs", "source": "tmpfs"})
	})
	dir := bundleWith(t, config)
	if err := os.Symlink("rootfs", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	captureLog(t)
	t.Chdir(filepath.Dir(dir))

	s, bundle, err := Load(filepath.Base(dir))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bundle != dir {
		t.Errorf("bundle = %q, want %q", bundle, dir)
	}
	if want := filepath.Join(real, "rootfs"); s.Root.Path != want {
		t.Errorf("root.path = %q, want %q", s.Root.Path, want)
	}
	if last := s.Mounts[len(s.Mounts)-1].Destination; last != "/tmp" {
		t.Errorf("relative mount destination became %q, want /tmp", last)
	}
}

func TestLoadAbsoluteRoot(t *testing.T) {
	rootfs := t.TempDir()
	config := exampleJSON(t, func(m map[string]any) { m["root"] = map[string]any{"path": rootfs} })
	s, _, err := Load(bundleWith(t, config))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	real, _ := filepath.EvalSymlinks(rootfs)
	if s.Root.Path != real {
		t.Errorf("root.path = %q, want %q", s.Root.Path, real)
	}
	if s.Process.Args[0] != "sh" || s.Hostname != "runc" {
		t.Errorf("spec content lost: %+v", s.Process)
	}
}

func TestParseWithoutProcess(t *testing.T) {
	s, err := Parse([]byte(`{"ociVersion":"1.0.2-dev","root":{"path":"rootfs"}}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := ValidateProcess(s.Process); err == nil || err.Error() != "process property must not be empty" {
		t.Fatalf("ValidateProcess(nil) = %v", err)
	}
}
