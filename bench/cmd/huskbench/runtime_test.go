package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseStraceTotal(t *testing.T) {
	withErrors := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.00    0.000400          10        40           mmap
 60.00    0.000600           6       100        12 openat
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           7       140        12 total
`
	noErrors := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
100.00    0.000010           1        98           total
`
	for in, want := range map[string]int{withErrors: 140, noErrors: 98} {
		got, err := parseStraceTotal(in)
		if err != nil || got != want {
			t.Errorf("parseStraceTotal = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := parseStraceTotal("strace: exec: no such file\n"); err == nil {
		t.Error("no error for a summary without a total line")
	}
}

func TestReadPidFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := readPidFile(good); err != nil || pid != 1234 {
		t.Errorf("readPidFile = %d, %v; want 1234", pid, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("-1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readPidFile(bad); err == nil {
		t.Error("no error for a negative pid")
	}
	if _, err := readPidFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestVmHWM(t *testing.T) {
	v, err := vmHWMKiB(os.Getpid())
	if err != nil || v <= 0 {
		t.Errorf("vmHWMKiB(self) = %d, %v", v, err)
	}
}

func TestLogMessage(t *testing.T) {
	in := `time="2026-01-01T00:00:00Z" level=warning msg="ignored"
time="2026-01-01T00:00:00Z" level=error msg="open \"/x\": no such file or directory"`
	if got, want := logMessage(in), `open "/x": no such file or directory`; got != want {
		t.Errorf("logMessage = %q, want %q", got, want)
	}
	if got := logMessage("writing file `x`: No space left on device\n"); got != "writing file `x`: No space left on device" {
		t.Errorf("logMessage of plain text = %q", got)
	}
}

func TestContenderArgv(t *testing.T) {
	c := contender{Name: "runc", Bin: "/usr/sbin/runc", Root: "/r"}
	argv := c.argv("delete", "--force", "x")
	want := []string{"/usr/sbin/runc", "--root", "/r", "delete", "--force", "x"}
	if len(argv) != len(want) {
		t.Fatalf("argv = %v", argv)
	}
	for i := range want {
		if argv[i] != want[i] {
			t.Fatalf("argv = %v, want %v", argv, want)
		}
	}
	if got := commandName(argv); got != "runc delete" {
		t.Errorf("commandName = %q", got)
	}
}
