package libcontainer

import (
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// phases records how long each step of an operation takes; with --debug the breakdown is logged as one
// line (`create phases: cgroup=0.21ms seccomp=0.02ms spawn=4.1ms ... total=9.8ms`). It costs two clock
// reads per phase when debug logging is off.
type phases struct {
	what  string
	start time.Time
	last  time.Time
	parts []string
}

func newPhases(what string) *phases {
	now := time.Now()
	return &phases{what: what, start: now, last: now}
}

func (p *phases) mark(name string) {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) {
		return
	}
	now := time.Now()
	p.parts = append(p.parts, fmt.Sprintf("%s=%.2fms", name, float64(now.Sub(p.last).Microseconds())/1000))
	p.last = now
}

// resume starts the next phase now: the time since the last mark belongs to someone else.
func (p *phases) resume() {
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		p.last = time.Now()
	}
}

func (p *phases) done() {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) {
		return
	}
	total := fmt.Sprintf("total=%.2fms", float64(time.Since(p.start).Microseconds())/1000)
	logrus.Debugf("%s phases: %s %s", p.what, strings.Join(p.parts, " "), total)
}
