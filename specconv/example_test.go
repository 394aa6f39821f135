package specconv

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runcSpec runs `runc spec [args]` in a temporary directory and returns the
// file it wrote. The test is skipped when runc is not installed.
func runcSpec(t *testing.T, args ...string) []byte {
	t.Helper()
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command(runc, append([]string{"spec"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runc spec %v: %v: %s", args, err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// compareWithRunc checks ours against runc's output: field by field after
// decoding, then byte for byte with runc's ociVersion substituted.
func compareWithRunc(t *testing.T, ours *specs.Spec, runcData []byte) {
	t.Helper()
	var theirs specs.Spec
	if err := json.Unmarshal(runcData, &theirs); err != nil {
		t.Fatalf("decode runc output: %v", err)
	}
	if ours.Version != specs.Version {
		t.Errorf("ociVersion = %q, want %q", ours.Version, specs.Version)
	}
	mine := *ours
	mine.Version = theirs.Version
	fields := []struct {
		name      string
		got, want any
	}{
		{"process", mine.Process, theirs.Process},
		{"root", mine.Root, theirs.Root},
		{"hostname", mine.Hostname, theirs.Hostname},
		{"mounts", mine.Mounts, theirs.Mounts},
		{"hooks", mine.Hooks, theirs.Hooks},
		{"annotations", mine.Annotations, theirs.Annotations},
		{"linux", mine.Linux, theirs.Linux},
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.got, f.want) {
			g, _ := json.Marshal(f.got)
			w, _ := json.Marshal(f.want)
			t.Errorf("%s differs from runc:\n got %s\nwant %s", f.name, g, w)
		}
	}
	data, err := Marshal(&mine)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, runcData) {
		t.Errorf("bytes differ from runc spec output:\n got %s\nwant %s", data, runcData)
	}
}

func TestExampleMatchesRunc(t *testing.T) {
	compareWithRunc(t, Example(), runcSpec(t))
}

func TestToRootlessMatchesRunc(t *testing.T) {
	s := Example()
	ToRootless(s)
	compareWithRunc(t, s, runcSpec(t, "--rootless"))
}

func TestExampleIsIndependent(t *testing.T) {
	a := Example()
	a.Process.Capabilities.Bounding[0] = "CAP_CHANGED"
	if b := Example(); b.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" {
		t.Fatal("Example shares state between calls")
	}
	if a.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" {
		t.Fatal("capability sets share one backing array")
	}
}

func TestExampleValidates(t *testing.T) {
	dir := t.TempDir()
	for _, rootless := range []bool{false, true} {
		s := Example()
		if rootless {
			ToRootless(s)
		}
		s.Root.Path = dir
		if err := Validate(s); err != nil {
			t.Errorf("rootless=%v: %v", rootless, err)
		}
	}
}

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o027)
	t.Cleanup(func() { syscall.Umask(old) })

	if err := WriteNew(dir, Example()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ConfigFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o640 {
		t.Errorf("mode = %o, want 640 (0666 less umask 027)", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(Example())
	if !bytes.Equal(data, want) {
		t.Errorf("written file differs from Marshal(Example())")
	}
	if strings.HasSuffix(string(data), "\n") {
		t.Errorf("file ends with a newline; runc writes none")
	}

	err = WriteNew(dir, Example())
	if err == nil || err.Error() != "File config.json exists. Remove it first" {
		t.Fatalf("second WriteNew: %v", err)
	}

	if err := WriteNew(filepath.Join(dir, "missing"), Example()); err == nil {
		t.Fatal("WriteNew into a missing directory succeeded")
	}
}
