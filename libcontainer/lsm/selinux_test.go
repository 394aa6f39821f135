package lsm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const testLabel = "system_u:object_r:container_file_t:s0:c1,c2"

func TestValidateSELinux(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		if err := validateSELinux("", enabled); err != nil {
			t.Errorf("empty label (enabled=%v): %v", enabled, err)
		}
	}
	if err := validateSELinux(testLabel, true); err != nil {
		t.Errorf("enabled: %v", err)
	}
	err := validateSELinux(testLabel, false)
	if !errors.Is(err, ErrSELinuxNotEnabled) {
		t.Fatalf("disabled: want ErrSELinuxNotEnabled, got %v", err)
	}
	// runc 1.1's exact text.
	const want = "selinux label is specified in config, but selinux is disabled or not supported"
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

// TestSELinuxDisabledHost checks that every setter is a no-op on a host
// without SELinux (nothing is written: the labels would be refused by the
// kernel otherwise), and that validation refuses a process label.
func TestSELinuxDisabledHost(t *testing.T) {
	if SELinuxEnabled() {
		t.Skip("SELinux is enabled here")
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := onLockedThread(func() error {
		if err := SetExecLabel(testLabel); err != nil {
			return err
		}
		if err := SetKeyringLabel(testLabel); err != nil {
			return err
		}
		return SetFileLabel(file, testLabel)
	})
	if err != nil {
		t.Errorf("setter on a disabled host: %v", err)
	}
	if err := ValidateSELinux(testLabel); !errors.Is(err, ErrSELinuxNotEnabled) {
		t.Errorf("ValidateSELinux: want ErrSELinuxNotEnabled, got %v", err)
	}
	if err := ValidateSELinux(""); err != nil {
		t.Errorf("ValidateSELinux(\"\"): %v", err)
	}
}

// TestSELinuxEnabledHost sets the exec label to the current one on a
// throwaway thread (a transition to the same domain, which an unconfined
// test process is normally allowed).
func TestSELinuxEnabledHost(t *testing.T) {
	if !SELinuxEnabled() {
		t.Skip("SELinux is not enabled here")
	}
	err := onLockedThread(func() error {
		cur, err := os.ReadFile("/proc/thread-self/attr/current")
		if err != nil {
			return err
		}
		return SetExecLabel(string(trimNUL(cur)))
	})
	if err != nil {
		t.Error(err)
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
