package libcontainer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
)

func TestParseList(t *testing.T) {
	cases := map[string][]uint16{
		"":          nil,
		"0":         {0},
		"0-3":       {0, 1, 2, 3},
		"0-1,4,6-7": {0, 1, 4, 6, 7},
		"0-1\n":     {0, 1},
		"3-1":       nil,
		"x":         nil,
	}
	for in, want := range cases {
		if got := parseList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPercpuModes(t *testing.T) {
	dir := t.TempDir()
	data := "cpu user system\n0 100 200\n1 300 400\n"
	if err := os.WriteFile(filepath.Join(dir, "cpuacct.usage_all"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	k, u := percpuModes(dir)
	if !reflect.DeepEqual(k, []uint64{200, 400}) || !reflect.DeepEqual(u, []uint64{100, 300}) {
		t.Errorf("kernel %v user %v", k, u)
	}
}

// TestEventJSONShape checks the JSON names of stats and oom events against
// runc's (observed from `runc events --stats` on this host).
func TestEventJSONShape(t *testing.T) {
	s := &cgroups.Stats{}
	s.CPU.UsageTotal = 10
	s.Pids.Current = 2
	s.Memory.Usage.Limit = 5
	s.Memory.Stats = map[string]uint64{"cache": 0}
	b, err := json.Marshal(&Event{Type: "stats", ID: "x", Data: convertStats(s)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"stats","id":"x","data":{"cpu":{"usage":{"total":10,"kernel":0,"user":0},"throttling":{}},` +
		`"cpuset":{"cpu_exclusive":0,"mem_hardwall":0,"mem_exclusive":0,"memory_migrate":0,"memory_spread_page":0,` +
		`"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":0,"sched_relax_domain_level":0},` +
		`"memory":{"usage":{"limit":5,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},` +
		`"kernelTCP":{"limit":0,"failcnt":0},"raw":{"cache":0}},"pids":{"current":2},"blkio":{},"hugetlb":{},` +
		`"intel_rdt":{},"network_interfaces":null}}`
	if string(b) != want {
		t.Errorf("stats event:\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(&Event{Type: "oom", ID: "x"})
	if string(b) != `{"type":"oom","id":"x"}` {
		t.Errorf("oom event = %s", b)
	}
	if strings.Contains(string(b), "data") {
		t.Error("oom event has data")
	}
}
