package main

import (
	"errors"
	"strings"
	"testing"
)

func TestMedianPercentile(t *testing.T) {
	cases := []struct {
		in       []float64
		med, p90 float64
	}{
		{nil, 0, 0},
		{[]float64{5}, 5, 5},
		{[]float64{3, 1, 2}, 2, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 4},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5, 9},
	}
	for _, c := range cases {
		if got := median(c.in); got != c.med {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.med)
		}
		if got := percentile(c.in, 90); got != c.p90 {
			t.Errorf("p90(%v) = %v, want %v", c.in, got, c.p90)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Errorf("median sorted its input in place: %v", in)
	}
}

func TestResultsRatioAndTable(t *testing.T) {
	r := newResults()
	for _, v := range []float64{10, 20, 30} {
		r.add(opRun, kindMinimal, "husk", "ms", v)
		r.add(opRun, kindMinimal, "crun", "ms", v*2)
	}
	r.add(opExec, kindMinimal, "husk", "ms", 5)
	r.fail(opExec, kindMinimal, "crun", errors.New("boom"))
	r.fail(opExec, kindMinimal, "crun", errors.New("boom"))
	all := r.finalize()
	if len(all) != 4 {
		t.Fatalf("got %d series, want 4", len(all))
	}
	for _, s := range all {
		switch {
		case s.Op == opRun && s.Runtime == "crun":
			if s.Median != 40 || s.Ratio != 2 {
				t.Errorf("crun run: median %v ratio %v, want 40 and 2", s.Median, s.Ratio)
			}
		case s.Op == opExec && s.Runtime == "crun":
			if s.Failures != 2 || len(s.Errors) != 1 || s.Ratio != 0 {
				t.Errorf("crun exec: failures %d errors %v ratio %v", s.Failures, s.Errors, s.Ratio)
			}
		}
	}
	table := formatTable(all, []string{"husk", "crun"})
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 { // header, rule, run, exec
		t.Fatalf("table has %d lines, want 4:\n%s", len(lines), table)
	}
	if !strings.HasPrefix(lines[2], "run ") || !strings.HasPrefix(lines[3], "exec ") {
		t.Errorf("rows out of order:\n%s", table)
	}
	for _, want := range []string{"20.0 / 30.0", "40.0 / 60.0", "2.00x", "FAIL(2)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
