package libcontainer

// What the parent does in the background while the container's process starts: the seal of the
// binary, the cgroup directories, the limits and the late move into the cgroup. Each step reports
// through a channel of one result, which the parent collects before it needs the step done (and
// before it cleans up after a failure).

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/exeseal"
)

type sealResult struct {
	f   *os.File
	err error
}

// early is a seal started by SealEarly that no parent has taken yet.
var early chan sealResult

// SealEarly starts the seal of the husk binary now, for a command that is about to start a container
// process (create, run, exec): the seal then also overlaps what the command does before it gets to
// Create or Exec (its flags, the bundle's config.json or the container's state). The next startSeal
// takes it; a command that fails before that leaves it to the process exit.
func SealEarly() {
	if early == nil {
		early = sealInBackground()
	}
}

// startSeal seals the husk binary in the background (two detached mounts, 0.2-0.3 ms), so that the
// seal overlaps the rest of the preparation instead of adding to it; spawn takes the result.
func (p *parent) startSeal() {
	if early != nil {
		p.sealed, early = early, nil
		return
	}
	p.sealed = sealInBackground()
}

func sealInBackground() chan sealResult {
	ch := make(chan sealResult, 1)
	go func() {
		f, err := exeseal.Open()
		ch <- sealResult{f, err}
	}()
	return ch
}

// takeSeal returns the sealed binary, waiting for startSeal (or sealing now if it was not started).
// The file is closed with p.files.
func (p *parent) takeSeal() (*os.File, error) {
	if p.sealed == nil {
		return exeseal.Open()
	}
	r := <-p.sealed
	p.sealed = nil
	if r.f != nil {
		p.files = append(p.files, r.f)
	}
	return r.f, r.err
}

// startCgroup creates the container's cgroup directories in the background; waitCgroup collects
// the result.
func (p *parent) startCgroup() {
	ch := make(chan error, 1)
	p.cgroupMade = ch
	go func(cg cgroups.Manager) { ch <- cg.Apply(0) }(p.cg)
}

// cgroupReady waits for the directories startCgroup creates, then starts writing p.earlyRes (see
// setLimits); it does nothing when startCgroup did not run or cgroupReady already did.
func (p *parent) cgroupReady() error {
	if p.cgroupMade == nil {
		return nil
	}
	if err := p.waitCgroup(); err != nil {
		return err
	}
	p.setLimits(p.earlyRes)
	return nil
}

// waitCgroup waits for startCgroup.
func (p *parent) waitCgroup() error { return collect(&p.cgroupMade) }

// collect waits for the result of a step running in the background (none when *ch is nil) and
// forgets it.
func collect(ch *chan error) error {
	if *ch == nil {
		return nil
	}
	err := <-*ch
	*ch = nil
	return err
}

// closeFiles closes what the parent opened for the process it starts, a seal not yet taken included.
func (p *parent) closeFiles() {
	if p.sealed != nil {
		p.takeSeal()
	}
	for _, f := range p.files {
		f.Close()
	}
	p.files = nil
}

// attachLate moves the container process into its cgroup (and applies res) in the background, while
// the process sets itself up; waitAttached collects the result.
func (p *parent) attachLate(res *specs.LinuxResources) {
	p.attached = make(chan error, 1)
	go func(cg cgroups.Manager, pid int) {
		var err error
		if p.memoryLast {
			err = cg.(cgroups.Splitter).ApplyExcept(pid, "memory")
		} else {
			err = cg.Apply(pid)
		}
		if err == nil && res != nil {
			err = p.setResources(res)
		}
		p.attached <- err
	}(p.cg, p.initPid)
}

// setLimits writes res in the background while the container's process starts; waitAttached
// collects the result.
func (p *parent) setLimits(res *specs.LinuxResources) {
	if res == nil {
		return
	}
	p.attached = make(chan error, 1)
	go func() { p.attached <- p.setResources(res) }()
}

// waitAttached collects the result of the move of init into the cgroup (lateCgroup), or of setLimits.
func (p *parent) waitAttached() error { return collect(&p.attached) }
