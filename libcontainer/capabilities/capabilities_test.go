package capabilities

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

const childEnv = "HUSK_CAPS_TEST_CHILD"

// TestMain runs the credential-changing scenarios in a re-executed child so
// that the test process itself keeps its capabilities.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "apply" {
		runtime.LockOSThread()
		if err := childApply(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childApply() error {
	s, err := FromSpec(&specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"},
		Effective:   []string{"CAP_CHOWN"},
		Permitted:   []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"},
		Inheritable: []string{"CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	})
	if err != nil {
		return err
	}
	if err := s.ApplyBounding(); err != nil {
		return err
	}
	if err := s.Apply(); err != nil {
		return err
	}
	cur, err := Current()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(cur)
}

func TestNamesAndParse(t *testing.T) {
	n := Names()
	if len(n) != 41 || n[0] != "CAP_CHOWN" || n[40] != "CAP_CHECKPOINT_RESTORE" {
		t.Fatalf("Names() = %d names, first %q last %q", len(n), n[0], n[len(n)-1])
	}
	for i, name := range n {
		c, err := Parse(name)
		if err != nil || c != i {
			t.Fatalf("Parse(%q) = %d, %v; want %d", name, c, err, i)
		}
	}
	if _, err := Parse("CAP_FOO"); err == nil || err.Error() != `unknown capability "CAP_FOO"` {
		t.Fatalf("Parse(CAP_FOO) error = %v", err)
	}
	if _, err := Parse("cap_chown"); err == nil {
		t.Fatal("Parse is case-insensitive")
	}
	if Name(21) != "CAP_SYS_ADMIN" || Name(99) != "CAP_99" {
		t.Fatal("Name() wrong")
	}
}

func TestFromSpec(t *testing.T) {
	s, err := FromSpec(nil)
	if err != nil || len(s.Bounding)+len(s.Effective)+len(s.Permitted)+len(s.Inheritable)+len(s.Ambient) != 0 {
		t.Fatalf("FromSpec(nil) = %+v, %v", s, err)
	}
	var buf bytes.Buffer
	logrus.SetOutput(&buf)
	t.Cleanup(func() { logrus.SetOutput(os.Stderr) })
	s, err = FromSpec(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_CHOWN", "CAP_FOO", "CAP_KILL", "CAP_CHOWN"},
		Permitted: []string{"cap_kill", "CAP_SYS_ADMIN"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Bounding, []int{0, 5}) || !reflect.DeepEqual(s.Permitted, []int{21}) {
		t.Fatalf("FromSpec = %+v", s)
	}
	if !strings.Contains(buf.String(), "ignoring unknown or unavailable capabilities: [CAP_FOO cap_kill]") {
		t.Fatalf("warning missing: %q", buf.String())
	}
}

func TestCurrent(t *testing.T) {
	s, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	last, err := LastCap()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Bounding) == 0 || s.Bounding[len(s.Bounding)-1] > last {
		t.Fatalf("Current().Bounding = %v (last cap %d)", s.Bounding, last)
	}
}

func TestApplyInChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=apply")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	var got Set
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	want := Set{
		Bounding:    []int{0, 5, 10},
		Effective:   []int{0},
		Permitted:   []int{0, 10},
		Inheritable: []int{10},
		Ambient:     []int{10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("child capabilities = %+v, want %+v", got, want)
	}
}
