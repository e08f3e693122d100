//go:build unix

package weights

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file copy-on-write (private and writable, so that
// writes through tensor views never reach the file); it falls back to
// reading it.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size > 0 && int64(int(size)) == size {
		data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
		if err == nil {
			return data, func() error { return unix.Munmap(data) }, nil
		}
	}
	return readAll(f, size)
}
