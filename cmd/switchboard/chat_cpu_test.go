package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cpuSample is the CPU time spent so far by this process (server and load
// generator alike) and by each PostgreSQL backend serving the app's
// database. CPU per line is a steadier figure than lines a second on a
// machine that other engineers' runs share: it does not fall when the
// cores are busy elsewhere.
type cpuSample struct {
	self     time.Duration
	backends map[int]time.Duration
}

// sampleCPU reads the process's rusage and, from /proc, the user + system
// time of every client backend on pool's database.
func sampleCPU(ctx context.Context, pool *pgxpool.Pool) (cpuSample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	s := cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), backends: map[int]time.Duration{}}
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`)
	if err != nil {
		return cpuSample{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return cpuSample{}, err
		}
		if d, err := procCPU(pid); err == nil {
			s.backends[pid] = d
		}
	}
	return s, rows.Err()
}

// procCPU is utime + stime of a process (fields 14 and 15 of
// /proc/<pid>/stat, in clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command may hold spaces; the fields after it start past ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: times %q %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// since returns the process's and the backends' CPU time between earlier
// and s; a backend that started in between counts from zero, one that
// ended is lost (pgxpool keeps its connections for the run).
func (s cpuSample) since(earlier cpuSample) (self, backends time.Duration) {
	for pid, d := range s.backends {
		backends += d - earlier.backends[pid]
	}
	return s.self - earlier.self, backends
}
