package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/confo-go/confo/internal/transfer"
)

// pruneDir removes from dir the configuration files (DIR/<name>.json, not
// hidden: what import reads) of configurations not in keep, so that dir
// holds exactly the namespace. It returns the names it removed, sorted.
func pruneDir(dir string, keep transfer.Configs) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		file := e.Name()
		name, isConfig := strings.CutSuffix(file, transfer.Ext)
		if !isConfig || strings.HasPrefix(file, ".") || !e.Type().IsRegular() {
			continue
		}
		if _, ok := keep[name]; ok {
			continue
		}
		if err := root.Remove(file); err != nil {
			return removed, fmt.Errorf("remove %s: %w", filepath.Join(dir, file), err)
		}
		removed = append(removed, name)
	}
	slices.Sort(removed)
	return removed, nil
}
