package common

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	good := map[string]string{
		"/a/b":      "/a/b",
		"/a/../b":   "/b",
		"a//b/./c":  "a/b/c",
		"a/b/..":    "a",
		"/":         "/",
		".":         ".",
		"/a/b/../c": "/a/c",
	}
	for in, want := range good {
		got, err := CleanPath(in)
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"..", "/..", "../a", "/a/../../b", "a/../../b", "a/b/../../.."} {
		if _, err := CleanPath(bad); err == nil {
			t.Errorf("CleanPath(%q) succeeded", bad)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		dir, p string
		want   bool
	}{
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/x", true},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory", true},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memoryx", false},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/../cpu", false},
		{"/", "/x", true},
	}
	for _, c := range cases {
		if got := Within(c.dir, c.p); got != c.want {
			t.Errorf("Within(%q, %q) = %v", c.dir, c.p, got)
		}
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "f", "42"); err != nil {
		t.Fatal(err)
	}
	if v, err := ReadUint(dir, "f"); err != nil || v != 42 {
		t.Errorf("ReadUint = %d, %v; want 42 (file truncated)", v, err)
	}
	err := WriteFile(dir, "missing", "7")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Errorf("WriteFile on a missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("WriteFile created a file")
	}
	if err := os.WriteFile(filepath.Join(dir, "kv"), []byte("cache 10\nrss 20\nbad\nx y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kv, err := ReadKeyValues(dir, "kv")
	if err != nil || len(kv) != 2 || kv["cache"] != 10 || kv["rss"] != 20 {
		t.Errorf("ReadKeyValues = %v, %v", kv, err)
	}
	for in, want := range map[string]uint64{"max": ^uint64(0), "-1": 0, " 5\n": 5} {
		if got, err := ParseUint(in); err != nil || got != want {
			t.Errorf("ParseUint(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseUint("abc"); err == nil {
		t.Error("ParseUint(abc) succeeded")
	}
	if !Exists(dir, "f") || Exists(dir, "missing") {
		t.Error("Exists is wrong")
	}
	// A file larger than ReadFile's first buffer (memory.stat, cgroup.procs of a busy cgroup).
	big := strings.Repeat("0123456789abcdef\n", 700)
	if err := os.WriteFile(filepath.Join(dir, "big"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(dir, "big"); err != nil || got != strings.TrimRight(big, "\n") {
		t.Errorf("ReadFile of %d bytes: %d bytes, %v", len(big), len(got), err)
	}
	if _, err := ReadFile(dir, "missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}
