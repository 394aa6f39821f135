package exeseal

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSealIsReadOnlyAndRuns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	self, _ := os.Executable()
	for name, open := range map[string]func(string) (*os.File, error){"overlay": overlaySeal, "memfd": memfdSeal} {
		t.Run(name, func(t *testing.T) {
			f, err := open(self)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
			// Writing through the sealed file must fail.
			if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
				_, werr := w.WriteAt([]byte{0}, 0)
				w.Close()
				if werr == nil {
					t.Fatalf("%s: wrote into the sealed binary", name)
				}
			}
			// It is the same program: run it with -test.run that matches nothing.
			cmd := exec.Command(p, "-test.run", "^$")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") && !strings.Contains(string(out), "PASS") {
				t.Fatalf("%s: run sealed binary: %v: %s", name, err, out)
			}
		})
	}
}

func TestOverlaySealLeavesNoMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	before, _ := os.ReadFile("/proc/self/mountinfo")
	self, _ := os.Executable()
	f, err := overlaySeal(self)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil || st.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Fatalf("not on overlayfs: %v %x", err, st.Type)
	}
	f.Close()
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if string(before) != string(after) {
		t.Fatal("the seal is visible in the mount table")
	}
}
