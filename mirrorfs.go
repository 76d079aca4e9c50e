package confo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/confo-go/confo/internal/atomicfile"
)

// Mirror layout (see WithMirror).
const (
	mirrorGenerations = ".confo-generations"
	mirrorMeta        = ".confo-mirror"
	mirrorExt         = ".json"
	mirrorMaxName     = MaxNameLen - len(mirrorExt)
	mirrorDirPerm     = 0o700
	mirrorFilePerm    = 0o600
	mirrorMetaVersion = 2
)

// mirrorMetadata is the content of a generation's .confo-mirror.
type mirrorMetadata struct {
	Format    int              `json:"format"`
	Backend   string           `json:"backend"`
	Namespace string           `json:"namespace"`
	Revision  int64            `json:"revision"`
	Written   time.Time        `json:"written"`
	Configs   map[string]int64 `json:"configurations"`
}

// write writes st as a new generation of namespace ns and makes it the
// current one. Every path is opened through an os.Root at the mirror's
// directory, and every name is checked, so nothing is written outside it.
func (mr *mirror) write(ns string, st mirrorState) error {
	if err := ValidateName(ns); err != nil {
		return err
	}
	if err := os.MkdirAll(mr.dir, mirrorDirPerm); err != nil {
		return err
	}
	root, err := os.OpenRoot(mr.dir)
	if err != nil {
		return err
	}
	defer root.Close()

	mr.seq++
	gens := path.Join(mr.backend, mirrorGenerations, ns)
	gen := fmt.Sprintf("%020d-%d-%d", st.revision, time.Now().UnixNano(), mr.seq)
	dir := path.Join(gens, gen)
	if err := root.MkdirAll(dir, mirrorDirPerm); err != nil {
		return err
	}
	meta := mirrorMetadata{
		Format: mirrorMetaVersion, Backend: mr.backend, Namespace: ns,
		Revision: st.revision, Written: time.Now().UTC(), Configs: make(map[string]int64, len(st.entries)),
	}
	var errs []error
	for name, e := range st.entries {
		if err := ValidateName(name); err != nil || len(name) > mirrorMaxName {
			errs = append(errs, fmt.Errorf("configuration %q not mirrored: %w", name, cmpErr(err, "name too long for a file")))
			continue
		}
		if err := writeSynced(root, path.Join(dir, name+mirrorExt), e.Value); err != nil {
			return errors.Join(append(errs, err)...) // the generation is incomplete: keep the old one
		}
		meta.Configs[name] = e.Revision
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := writeSynced(root, path.Join(dir, mirrorMeta), raw); err != nil {
		return err
	}
	if err := atomicfile.SyncDirIn(root, dir); err != nil {
		return err
	}
	// Swap the link: a new symbolic link renamed over the old one.
	link := path.Join(mr.backend, ns)
	tmp := path.Join(mr.backend, "."+ns+".confo-link")
	_ = root.Remove(tmp)
	if err := root.Symlink(path.Join(mirrorGenerations, ns, gen), tmp); err != nil {
		return err
	}
	if fi, err := root.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		if err := root.RemoveAll(link); err != nil { // an older layout's directory
			return err
		}
	}
	if err := root.Rename(tmp, link); err != nil {
		return err
	}
	if err := atomicfile.SyncDirIn(root, mr.backend); err != nil {
		return err
	}
	// Remove the generations no link names any more.
	entries, err := fs.ReadDir(root.FS(), gens)
	if err == nil {
		for _, e := range entries {
			if e.Name() != gen {
				if err := root.RemoveAll(path.Join(gens, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// read returns the mirror's current generation of ns and when it was
// written.
func (mr *mirror) read(ns string) (Snapshot, time.Time, error) {
	if err := ValidateName(ns); err != nil {
		return Snapshot{}, time.Time{}, err
	}
	root, err := os.OpenRoot(mr.dir)
	if err != nil {
		return Snapshot{}, time.Time{}, err
	}
	defer root.Close()
	// Resolve the link once, so that every file comes from one generation
	// even if a writer swaps it meanwhile.
	target, err := root.Readlink(path.Join(mr.backend, ns))
	if err != nil {
		return Snapshot{}, time.Time{}, err
	}
	dir := path.Join(mr.backend, target)
	if !strings.HasPrefix(dir, path.Join(mr.backend, mirrorGenerations, ns)+"/") {
		return Snapshot{}, time.Time{}, fmt.Errorf("mirror link %q points outside its generations", path.Join(mr.backend, ns))
	}
	raw, err := root.ReadFile(path.Join(dir, mirrorMeta))
	if err != nil {
		return Snapshot{}, time.Time{}, err
	}
	var meta mirrorMetadata
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Snapshot{}, time.Time{}, fmt.Errorf("%s: %w", path.Join(dir, mirrorMeta), err)
	}
	snap := Snapshot{Entries: make(map[string]Entry, len(meta.Configs)), Revision: meta.Revision}
	for name, rev := range meta.Configs {
		if ValidateName(name) != nil {
			continue
		}
		value, err := root.ReadFile(path.Join(dir, name+mirrorExt))
		if err != nil {
			return Snapshot{}, time.Time{}, fmt.Errorf("mirror of %q: %w", name, err)
		}
		snap.Entries[name] = Entry{Value: value, Revision: rev}
	}
	return snap, meta.Written, nil
}

// writeSynced writes data to a new file name under root and syncs it.
func writeSynced(root *os.Root, name string, data []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mirrorFilePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// cmpErr returns err, or an error saying reason when err is nil.
func cmpErr(err error, reason string) error {
	if err != nil {
		return err
	}
	return errors.New(reason)
}
