//go:build unix

package weights

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only; it falls back to reading it.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size > 0 && int64(int(size)) == size {
		data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		if err == nil {
			return data, func() error { return unix.Munmap(data) }, nil
		}
	}
	return readAll(f, size)
}
