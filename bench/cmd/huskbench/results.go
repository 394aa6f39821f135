package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// series is every sample of one operation, bundle and runtime.
type series struct {
	Op       string    `json:"op"`
	Bundle   string    `json:"bundle"`
	Runtime  string    `json:"runtime"`
	Unit     string    `json:"unit"`
	Samples  []float64 `json:"samples"`
	Median   float64   `json:"median"`
	P90      float64   `json:"p90"`
	Ratio    float64   `json:"ratio_to_husk,omitempty"`
	Failures int       `json:"failures,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
}

// maxErrors is how many distinct error texts a series keeps.
const maxErrors = 3

// results collects series in first-seen order.
type results struct {
	mu    sync.Mutex
	order []string
	m     map[string]*series
}

func newResults() *results { return &results{m: map[string]*series{}} }

func (r *results) get(op, bundle, runtime, unit string) *series {
	key := op + "\x00" + bundle + "\x00" + runtime
	s, ok := r.m[key]
	if !ok {
		s = &series{Op: op, Bundle: bundle, Runtime: runtime, Unit: unit}
		r.m[key] = s
		r.order = append(r.order, key)
	}
	if s.Unit == "" {
		s.Unit = unit
	}
	return s
}

// add records one sample.
func (r *results) add(op, bundle, runtime, unit string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.get(op, bundle, runtime, unit)
	s.Samples = append(s.Samples, v)
}

// fail records one failed attempt and keeps its error text.
func (r *results) fail(op, bundle, runtime string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.get(op, bundle, runtime, "")
	s.Failures++
	msg := err.Error()
	for _, e := range s.Errors {
		if e == msg {
			return
		}
	}
	if len(s.Errors) < maxErrors {
		s.Errors = append(s.Errors, msg)
	}
}

// finalize computes medians, p90s and the ratio of each runtime's median to
// husk's for the same operation and bundle.
func (r *results) finalize() []*series {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*series, 0, len(r.order))
	for _, k := range r.order {
		s := r.m[k]
		s.Median = round3(median(s.Samples))
		s.P90 = round3(percentile(s.Samples, 90))
		out = append(out, s)
	}
	for _, s := range out {
		h, ok := r.m[s.Op+"\x00"+s.Bundle+"\x00husk"]
		if ok && len(h.Samples) > 0 && h.Median > 0 && len(s.Samples) > 0 {
			s.Ratio = round3(s.Median / h.Median)
		}
	}
	return out
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// median is the middle sample (the mean of the two middle ones for an even
// count); 0 for no samples.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank percentile p (0 < p <= 100).
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

// opOrder is the table's row order.
var opOrder = []string{
	opRun, opCreate, opStart, opExec, opKill, opDelete, opForce, opParallel,
	opRSS, opRSSMax, opSyscalls, opSecUncach, opSecCached, opBusyRun, opBusyExec,
}

// formatTable renders one row per operation and bundle and one column per
// runtime: "median / p90" and, beside the other runtimes, their ratio to husk.
func formatTable(all []*series, runtimes []string) string {
	type rowKey struct{ op, bundle string }
	cells := map[rowKey]map[string]*series{}
	var rows []rowKey
	for _, s := range all {
		k := rowKey{s.Op, s.Bundle}
		if cells[k] == nil {
			cells[k] = map[string]*series{}
			rows = append(rows, k)
		}
		cells[k][s.Runtime] = s
	}
	rank := map[string]int{}
	for i, op := range opOrder {
		rank[op] = i
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ri, rj := rank[rows[i].op], rank[rows[j].op]
		if ri != rj {
			return ri < rj
		}
		return rows[i].bundle < rows[j].bundle
	})

	header := []string{"operation", "bundle", "unit"}
	for _, rt := range runtimes {
		header = append(header, rt+" med / p90")
		if rt != "husk" {
			header = append(header, rt+"/husk")
		}
	}
	table := [][]string{header}
	for _, k := range rows {
		unit := ""
		line := []string{k.op, k.bundle}
		var cols []string
		for _, rt := range runtimes {
			s := cells[k][rt]
			cell, ratio := "-", "-"
			if s != nil {
				if unit == "" {
					unit = s.Unit
				}
				cell = formatCell(s)
				if s.Ratio > 0 {
					ratio = fmt.Sprintf("%.2fx", s.Ratio)
				}
			}
			cols = append(cols, cell)
			if rt != "husk" {
				cols = append(cols, ratio)
			}
		}
		line = append(line, unit)
		table = append(table, append(line, cols...))
	}
	return alignColumns(table)
}

func formatCell(s *series) string {
	if len(s.Samples) == 0 {
		return fmt.Sprintf("FAIL(%d)", s.Failures)
	}
	cell := fmt.Sprintf("%s / %s", num(s.Median), num(s.P90))
	if len(s.Samples) == 1 {
		cell = num(s.Median)
	}
	if s.Failures > 0 {
		cell += fmt.Sprintf(" (%d failed)", s.Failures)
	}
	return cell
}

func num(v float64) string {
	if v == math.Trunc(v) && v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func alignColumns(rows [][]string) string {
	width := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			if n := len([]rune(c)); n > width[i] {
				width[i] = n
			}
		}
	}
	var b strings.Builder
	for ri, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := width[i] - len([]rune(c))
			if i < 3 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString(strings.Repeat(" ", pad) + c)
			}
		}
		b.WriteString("\n")
		if ri == 0 {
			total := 0
			for i := range r {
				total += width[i] + 2
			}
			b.WriteString(strings.Repeat("-", total-2) + "\n")
		}
	}
	return b.String()
}
