package lsm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppArmorEnabledAt(t *testing.T) {
	dir := t.TempDir()
	fsDir := filepath.Join(dir, "apparmor")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yes, no := write("yes", "Y\n"), write("no", "N\n")
	for _, tc := range []struct {
		name, fsDir, param string
		want               bool
	}{
		{"enabled", fsDir, yes, true},
		{"parameter N", fsDir, no, false},
		{"no securityfs dir", filepath.Join(dir, "missing"), yes, false},
		{"no module parameter", fsDir, filepath.Join(dir, "missing"), false},
	} {
		if got := appArmorEnabledAt(tc.fsDir, tc.param); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	// The real answer must agree with the host's files.
	if AppArmorEnabled() != appArmorEnabledAt(appArmorFS, appArmorParam) {
		t.Error("AppArmorEnabled disagrees with the host's files")
	}
}

func TestValidateAppArmor(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		if err := validateAppArmor("", enabled); err != nil {
			t.Errorf("empty profile (enabled=%v): %v", enabled, err)
		}
		if err := validateAppArmor("a\x00b", enabled); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("NUL in profile (enabled=%v): got %v", enabled, err)
		}
	}
	if err := validateAppArmor("docker-default", true); err != nil {
		t.Errorf("enabled: %v", err)
	}
	err := validateAppArmor("docker-default", false)
	if !errors.Is(err, ErrAppArmorNotEnabled) {
		t.Fatalf("disabled: want ErrAppArmorNotEnabled, got %v", err)
	}
	want := `apparmor profile "docker-default" is specified in config, but apparmor is disabled or not supported`
	if err.Error() != want {
		t.Errorf("message:\n got %s\nwant %s", err, want)
	}
}

// TestAppArmorDisabledHost exercises the public functions on a host without
// AppArmor: an empty profile is a no-op, a named one is refused before any
// procfs write.
func TestAppArmorDisabledHost(t *testing.T) {
	if AppArmorEnabled() {
		t.Skip("AppArmor is enabled here")
	}
	if err := ValidateAppArmor(""); err != nil {
		t.Errorf("ValidateAppArmor(\"\"): %v", err)
	}
	if err := ApplyAppArmor(""); err != nil {
		t.Errorf("ApplyAppArmor(\"\"): %v", err)
	}
	if err := ValidateAppArmor("docker-default"); !errors.Is(err, ErrAppArmorNotEnabled) {
		t.Errorf("ValidateAppArmor: want ErrAppArmorNotEnabled, got %v", err)
	}
	err := onLockedThread(func() error { return ApplyAppArmor("docker-default") })
	if !errors.Is(err, ErrAppArmorNotEnabled) {
		t.Errorf("ApplyAppArmor: want ErrAppArmorNotEnabled, got %v", err)
	}
}

// TestApplyAppArmorEnabledHost applies a profile that cannot exist where
// AppArmor is enabled: the kernel must be reached and refuse it.
func TestApplyAppArmorEnabledHost(t *testing.T) {
	if !AppArmorEnabled() {
		t.Skip("AppArmor is not enabled here")
	}
	err := onLockedThread(func() error { return ApplyAppArmor("husk-no-such-profile-for-tests") })
	if err == nil {
		t.Error("applying a profile that is not loaded succeeded")
	}
}
