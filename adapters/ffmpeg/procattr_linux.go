package ffmpeg

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// encodeProcAttr puts ffmpeg in its own process group, so a terminal's
// Ctrl-C reaches the worker (which then stops ffmpeg itself) and not ffmpeg
// first; and has the kernel kill ffmpeg when the worker dies, so a worker
// killed with SIGKILL leaves no encode running for an attempt that another
// worker takes over. (The kernel sends it when the thread that started
// ffmpeg exits; Go only ends threads of goroutines that locked one, which
// the worker never does.) Both survive prlimit's exec of ffmpeg.
func encodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// bytesRead is how many bytes the process has read so far (rchar in
// /proc/<pid>/io: every read(2), from files and pipes alike), and whether
// it could be read.
func bytesRead(pid int) (int64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// addressSpaceHardLimit is this process's hard RLIMIT_AS, which a child's
// cap cannot exceed.
func addressSpaceHardLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		return 0, fmt.Errorf("reading the address-space limit: %w", err)
	}
	return lim.Max, nil
}
