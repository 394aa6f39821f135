package common

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// StatReader reads one controller's counters from its cgroup directory
// into a Stats.
type StatReader struct {
	// Name is the controller, as dirOf in CollectStats knows it.
	Name string
	// Read fills the controller's part of st from dir.
	Read func(dir string, st *Stats) error
}

// CollectStats runs each reader on the directory dirOf returns for its
// controller; a controller without a directory is skipped. A reader that
// fails because a file or the directory is missing leaves the rest of its
// part zero; any other failure is returned, naming the controller.
func CollectStats(dirOf func(controller string) (string, bool), readers []StatReader) (*Stats, error) {
	st := &Stats{}
	for _, r := range readers {
		d, ok := dirOf(r.Name)
		if !ok {
			continue
		}
		if err := r.Read(d, st); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s stats: %w", r.Name, err)
		}
	}
	return st, nil
}

// ReadPidsStats reads pids.current and pids.max (a limit of "max" reads as 0,
// no limit). The files are the same on cgroup v1 and v2. A missing file is
// an os.ErrNotExist error, which CollectStats tolerates.
func ReadPidsStats(dir string, st *Stats) error {
	var err error
	if st.Pids.Current, err = ReadUint(dir, "pids.current"); err != nil {
		return err
	}
	limit, err := ReadUint(dir, "pids.max")
	if err != nil {
		return err
	}
	if limit != ^uint64(0) {
		st.Pids.Limit = limit
	}
	return nil
}

// HugetlbSizes returns the huge page sizes ("2MB", "1GB") for which dir has
// a hugetlb.<size>.<usage> file; usage is the counter's suffix
// ("usage_in_bytes" on cgroup v1, "current" on v2). The reservation
// counters (hugetlb.<size>.rsvd.<usage>) are not sizes and are left out.
func HugetlbSizes(dir, usage string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "hugetlb.*."+usage))
	if err != nil {
		return nil, fmt.Errorf("list hugetlb files in %s: %w", dir, err)
	}
	var sizes []string
	for _, f := range files {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "hugetlb."), "."+usage)
		if !strings.Contains(size, ".") {
			sizes = append(sizes, size)
		}
	}
	return sizes, nil
}
