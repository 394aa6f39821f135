package seccomp

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProgramBinaryRoundTrip(t *testing.T) {
	prog, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Program{prog, {Filter: prog.Filter, Flags: 5, Notify: true, Arch: 7}} {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Program
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, p) {
			t.Errorf("round trip: got %+v, want %+v", got, *p)
		}
	}
	good, _ := prog.MarshalBinary()
	for name, b := range map[string][]byte{
		"empty":           nil,
		"json":            []byte(`{"filter":"","flags":0}`),
		"header only":     good[:binaryHeader],
		"torn filter":     good[:len(good)-3],
		"bad notify flag": append(append(append([]byte{}, good[:binaryHeader-4]...), 2, 0, 0, 0), good[binaryHeader:]...),
	} {
		var p Program
		if err := p.UnmarshalBinary(b); err == nil || !strings.HasPrefix(err.Error(), "seccomp:") {
			t.Errorf("%s: err %v, want a seccomp: error", name, err)
		}
	}
}
