//go:build linux

package integration

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// TestPsJSON: `ps --format json` prints the container's host PIDs as a JSON
// array (what `ctr task ps` reads), and the table form lists the init pid.
func TestPsJSON(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	h.start(id)
	st := h.state(id)
	out := h.mustRun("ps", "--format", "json", id)
	var pids []int
	if err := json.Unmarshal([]byte(out), &pids); err != nil {
		t.Fatalf("ps --format json: %v: %q", err, out)
	}
	found := false
	for _, p := range pids {
		found = found || p == st.Pid
	}
	if !found {
		t.Errorf("ps --format json = %v, lacks init pid %d", pids, st.Pid)
	}
	table := nonEmptyLines(h.mustRun("ps", id))
	if len(table) < 2 || !strings.Contains(table[0], "PID") {
		t.Errorf("ps table = %q, want a header with PID and rows", table)
	}
	inTable := false
	for _, row := range table[1:] {
		for _, f := range strings.Fields(row) {
			inTable = inTable || f == strconv.Itoa(st.Pid)
		}
	}
	if !inTable {
		t.Errorf("ps table lacks init pid %d: %q", st.Pid, table)
	}
	h.mustRun("delete", "--force", id)
}

// TestFeatures: `features` prints a JSON document with the supported OCI
// version range.
func TestFeatures(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("features")
	var f map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features is not a JSON object: %v: %q", err, out)
	}
	for _, k := range []string{"ociVersionMin", "ociVersionMax"} {
		var v string
		if err := json.Unmarshal(f[k], &v); err != nil || v == "" {
			t.Errorf("features %s = %s (%v), want a version string", k, f[k], err)
		}
	}
}
