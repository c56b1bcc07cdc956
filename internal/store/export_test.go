package store

import "github.com/pitstop-go/pitstop/internal/atomicfile"

// SetFileOps makes d's Commits fsync and rename through ops (a recorder).
func SetFileOps(d *Disk, ops atomicfile.Ops) { d.fs.Ops = ops }
