package procstat

import (
	"os"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	before, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.PPID != os.Getppid() || before.Comm == "" || before.Start == 0 {
		t.Errorf("self = %+v, want ppid %d, a name and a start time", before, os.Getppid())
	}
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
	}
	after, _ := Read(os.Getpid())
	if after.CPU-before.CPU < 100*time.Millisecond {
		t.Errorf("CPU went %v → %v over 300 ms of spinning", before.CPU, after.CPU)
	}
	if _, err := Read(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
