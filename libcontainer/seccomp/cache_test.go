package seccomp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCompileCached(t *testing.T) {
	cfg := loadFixture(t)
	dir := filepath.Join(t.TempDir(), "cache")
	first, err := CompileCached(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil || st.Mode&0o777 != 0o700 {
		t.Fatalf("cache dir mode %#o, %v", st.Mode&0o777, err)
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %v", entries)
	}
	second, err := CompileCached(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameProgram(first, second) {
		t.Fatal("cache hit returned a different program")
	}
	direct := mustCompile(t, cfg)
	if !sameProgram(first, direct) {
		t.Fatal("cached program differs from a fresh compile")
	}

	// A damaged entry is ignored and rewritten.
	raw, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), `"filter":"`) + len(`"filter":"`) + 10
	damaged := []byte(string(raw))
	if damaged[i] == 'A' {
		damaged[i] = 'B'
	} else {
		damaged[i] = 'A'
	}
	if err := os.WriteFile(entries[0], damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readEntry(entries[0], filepath.Base(strings.TrimSuffix(entries[0], ".json"))); err == nil {
		t.Fatal("damaged entry verified")
	}
	third, err := CompileCached(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameProgram(first, third) {
		t.Fatal("program from a damaged cache differs")
	}
	if again, _ := os.ReadFile(entries[0]); string(again) != string(raw) {
		t.Fatal("damaged entry was not rewritten")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// A different profile gets a different entry.
	cfg.DefaultErrnoRet = uptr(38)
	if _, err := CompileCached(cfg, dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ = filepath.Glob(filepath.Join(dir, "*.json")); len(entries) != 2 {
		t.Fatalf("cache entries %v", entries)
	}
}

func TestCompileCachedUnsafeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	prog, err := CompileCached(loadFixture(t), dir)
	if err != nil || len(prog.Filter) == 0 {
		t.Fatalf("compile with unsafe cache dir: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("wrote into a world-writable cache dir: %v", entries)
	}
	// Bad profiles fail the same way with or without a cache.
	bad := loadFixture(t)
	bad.DefaultAction = "SCMP_ACT_FOO"
	if _, err := CompileCached(bad, filepath.Join(t.TempDir(), "c")); err == nil || err.Error() != `seccomp: unknown action "SCMP_ACT_FOO"` {
		t.Fatalf("got %v", err)
	}
}

func TestDefaultFixtureBusybox(t *testing.T) {
	// Docker's default profile leaves a busybox workload unharmed.
	cfg := loadFixture(t)
	script := "echo start; ls / >/dev/null; mkdir -p /tmp/.husk-seccomp-$$ && rmdir /tmp/.husk-seccomp-$$; " +
		"grep Seccomp: /proc/self/status; unshare -U true 2>/dev/null && echo unshare-allowed; echo done"
	out, errOut, ws := runInChildArgs(t, cfg, []string{"/bin/busybox", "sh", "-c", script})
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v, stdout %q stderr %q", ws, out, errOut)
	}
	if !strings.Contains(out, "start\n") || !strings.Contains(out, "Seccomp:\t2") || !strings.HasSuffix(out, "done\n") ||
		strings.Contains(out, "unshare-allowed") {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	cfg := loadFixture(b)
	for i := 0; i < b.N; i++ {
		if _, err := Compile(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileCachedDefault(b *testing.B) {
	cfg := loadFixture(b)
	dir := filepath.Join(b.TempDir(), "cache")
	if _, err := CompileCached(cfg, dir); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := CompileCached(cfg, dir); err != nil {
			b.Fatal(err)
		}
	}
}
