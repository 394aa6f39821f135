//go:build linux

package integration

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/tests/bundle"
)

// stateKeys is the key set of `runc state` and of each `runc list --format
// json` entry (runc 1.1.5); "annotations" appears only when the spec has any.
var stateKeys = []string{"bundle", "created", "id", "ociVersion", "owner", "pid", "rootfs", "status"}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func checkKeys(t *testing.T, what string, m map[string]json.RawMessage, want []string) {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	if got := sortedKeys(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

// TestStateJSON compares the shape of `state` with the reference runtime's,
// including annotations when the spec carries them.
func TestStateJSON(t *testing.T) {
	h := newHarness(t)
	id := h.newID()
	b := h.newBundle(id, sleeper(id))
	h.create(id, b)
	out := h.mustRun("state", id)
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("state is not a JSON object: %v: %q", err, out)
	}
	checkKeys(t, "state", m, stateKeys)
	var st containerState
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	if st.OCIVersion == "" {
		t.Error("state ociVersion is empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Trim(string(m["created"]), `"`)); err != nil {
		t.Errorf("state created is not RFC 3339: %v", err)
	}
	h.mustRun("delete", "--force", id)

	id2 := h.newID()
	b2 := h.newBundle(id2, sleeper(id2), bundle.WithSpec(func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.example.key": "value"}
	}))
	h.create(id2, b2)
	out = h.mustRun("state", id2)
	m = nil
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("state is not a JSON object: %v: %q", err, out)
	}
	checkKeys(t, "state with annotations", m, append(stateKeys, "annotations"))
	var ann map[string]string
	if err := json.Unmarshal(m["annotations"], &ann); err != nil || ann["org.example.key"] != "value" {
		t.Errorf("state annotations = %s (%v), want org.example.key=value", m["annotations"], err)
	}
	h.mustRun("delete", "--force", id2)
}

// TestList checks `list` in table, quiet and JSON forms.
func TestList(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("list")
	lines := nonEmptyLines(out)
	wantHeader := "ID PID STATUS BUNDLE CREATED OWNER"
	if len(lines) != 1 || strings.Join(strings.Fields(lines[0]), " ") != wantHeader {
		t.Errorf("empty list = %q, want only the header %q", out, wantHeader)
	}
	if out := h.mustRun("list", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("empty list -q = %q, want nothing", out)
	}

	created, running := h.newID(), h.newID()
	bc := h.newBundle(created, sleeper(created))
	br := h.newBundle(running, sleeper(running))
	h.create(created, bc)
	h.create(running, br)
	h.start(running)
	want := map[string]containerState{created: h.state(created), running: h.state(running)}

	out = h.mustRun("list")
	lines = nonEmptyLines(out)
	if len(lines) != 3 {
		t.Fatalf("list printed %d lines, want header + 2 rows: %q", len(lines), out)
	}
	if got := strings.Join(strings.Fields(lines[0]), " "); got != wantHeader {
		t.Errorf("list header = %q, want %q", got, wantHeader)
	}
	for _, row := range lines[1:] {
		f := strings.Fields(row)
		if len(f) != 6 {
			t.Errorf("list row %q has %d columns, want 6", row, len(f))
			continue
		}
		st, ok := want[f[0]]
		if !ok {
			t.Errorf("list row for unknown container: %q", row)
			continue
		}
		if f[1] != strconv.Itoa(st.Pid) || f[2] != st.Status || f[3] != st.Bundle || f[5] != "root" {
			t.Errorf("list row %q does not match state %+v (owner root)", row, st)
		}
		if ts, err := time.Parse(time.RFC3339Nano, f[4]); err != nil || !ts.Equal(st.Created) {
			t.Errorf("list row created %q (%v), state says %v", f[4], err, st.Created)
		}
	}

	quiet := nonEmptyLines(h.mustRun("list", "-q"))
	sort.Strings(quiet)
	ids := []string{created, running}
	sort.Strings(ids)
	if strings.Join(quiet, ",") != strings.Join(ids, ",") {
		t.Errorf("list -q = %v, want %v", quiet, ids)
	}

	out = h.mustRun("list", "--format", "json")
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list --format json: %v: %q", err, out)
	}
	if len(entries) != 2 {
		t.Fatalf("list --format json has %d entries, want 2", len(entries))
	}
	for _, e := range entries {
		checkKeys(t, "list entry", e, stateKeys)
		var st containerState
		raw, _ := json.Marshal(e)
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Errorf("decode list entry: %v", err)
			continue
		}
		w, ok := want[st.ID]
		if !ok || st.Pid != w.Pid || st.Status != w.Status || st.Bundle != w.Bundle || st.Owner != "root" {
			t.Errorf("list entry %+v does not match state %+v (owner root)", st, w)
		}
	}
	h.mustRun("delete", "--force", created)
	h.mustRun("delete", "--force", running)
}
