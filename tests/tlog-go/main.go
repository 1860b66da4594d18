// Command tlog-go checks a Hallmark transparency log with Go's implementations of the
// formats (golang.org/x/mod/sumdb/note and sumdb/tlog), which Hallmark does not share code
// with.
//
// Usage: tlog-go DIR LOG-VKEY CASES
//
// It opens DIR/checkpoint with note.Open and the log's verifier key, recomputes the tree
// hash from the hash tiles on disk, checks every entry bundle against the leaf hashes, and
// then checks each line of CASES:
//
//	inclusion INDEX HASH...          tlog.CheckRecord of entry INDEX with the proof
//	consistency OLD OLDROOT HASH...  tlog.CheckTree from the tree of OLD leaves
//	cosignature VKEY                 a tlog-cosignature/v1 line by VKEY (type 0x04) verifies
//
// Hashes are base64. It prints one summary line and exits 0, or prints why and exits 1.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog-go: "+format+"\n", args...)
	os.Exit(1)
}

// dirTiles reads C2SP tiles (tile/L/N[.p/W]) for Go's tile/8/L/N paths. Go asks for the
// least width holding a hash; the log stores the width of its current tree, so the tile of
// that width is read and cut down.
type dirTiles struct {
	dir  string
	size int64
}

func (d dirTiles) Height() int { return 8 }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		count := d.size >> (8 * uint(t.L))
		w := count - t.N*256
		if w > 256 {
			w = 256
		}
		if w < int64(t.W) {
			return nil, fmt.Errorf("tile %v is beyond the tree of %d", t, d.size)
		}
		stored := tlog.Tile{H: 8, L: t.L, N: t.N, W: int(w)}
		p := strings.TrimPrefix(stored.Path(), "tile/8/")
		data, err := os.ReadFile(filepath.Join(d.dir, "tile", p))
		if err != nil {
			return nil, err
		}
		if len(data) != int(w)*32 {
			return nil, fmt.Errorf("tile %s has %d bytes, want %d", p, len(data), w*32)
		}
		out[i] = data[:t.W*32]
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// rawHashes reads stored hashes straight from the tiles, trusting nothing and checking
// nothing: the tree hash computed from them is compared with the signed root.
type rawHashes struct{ tiles dirTiles }

func (r rawHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		t := tlog.TileForIndex(8, x)
		data, err := r.tiles.ReadTiles([]tlog.Tile{t})
		if err != nil {
			return nil, err
		}
		h, err := tlog.HashFromTile(t, data[0], x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func decodeHash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

// bundleEntries splits a C2SP entry bundle.
func bundleEntries(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, errors.New("truncated entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}

// entryBundlePath is the C2SP path of entry bundle n of a tree of size entries.
func entryBundlePath(n, size int64) string {
	w := size - n*256
	if w > 256 {
		w = 256
	}
	t := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
	return strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1)
}

// checkCosignature verifies a tlog-cosignature/v1 line by vkey over the note text.
func checkCosignature(msg []byte, text string, vkey string) (uint64, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return 0, errors.New("bad cosignature vkey")
	}
	name := parts[0]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return 0, errors.New("cosignature vkey is not type 0x04 Ed25519")
	}
	h := sha256.Sum256(append([]byte(name+"\n\x04"), raw[1:]...))
	if hex.EncodeToString(h[:4]) != parts[1] {
		return 0, errors.New("cosignature key id mismatch")
	}
	sigs := msg[len(text)+1:]
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		rest := strings.TrimPrefix(line, "\u2014 ")
		f := strings.SplitN(rest, " ", 2)
		if len(f) != 2 || f[0] != name {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil || len(b) != 4+8+64 || !bytes.Equal(b[:4], h[:4]) {
			continue
		}
		ts := binary.BigEndian.Uint64(b[4:12])
		m := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
		if !ed25519.Verify(ed25519.PublicKey(raw[1:]), []byte(m), b[12:]) {
			return 0, errors.New("cosignature by " + name + " does not verify")
		}
		return ts, nil
	}
	return 0, errors.New("no cosignature by " + name)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: tlog-go DIR LOG-VKEY CASES")
	}
	dir, vkey, casesPath := os.Args[1], os.Args[2], os.Args[3]
	msg, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != verifier.Name() {
		fail("checkpoint body %q is not origin, size, root", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		fail("bad size %q", lines[1])
	}
	tree := tlog.Tree{N: size, Hash: decodeHash(lines[2])}
	tiles := dirTiles{dir: dir, size: size}

	// The tree hash from the raw tiles must be the signed root.
	if size > 0 {
		th, err := tlog.TreeHash(size, rawHashes{tiles})
		if err != nil {
			fail("tree hash from tiles: %v", err)
		}
		if th != tree.Hash {
			fail("tree hash from tiles %v differs from the checkpoint's %v", th, tree.Hash)
		}
	} else if tree.Hash != tlog.Hash(sha256.Sum256(nil)) {
		fail("empty tree with root %v", tree.Hash)
	}
	verified := tlog.TileHashReader(tree, tiles)

	// Every entry hashes to the leaf hash the verified tiles hold.
	entries := make([][]byte, 0, size)
	for b := int64(0); b*256 < size; b++ {
		data, err := os.ReadFile(filepath.Join(dir, entryBundlePath(b, size)))
		if err != nil {
			fail("%v", err)
		}
		es, err := bundleEntries(data)
		if err != nil {
			fail("entry bundle %d: %v", b, err)
		}
		entries = append(entries, es...)
	}
	if int64(len(entries)) != size {
		fail("entry bundles hold %d entries, the tree %d", len(entries), size)
	}
	for i := int64(0); i < size; i += 97 {
		hs, err := verified.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			fail("leaf %d: %v", i, err)
		}
		if hs[0] != tlog.RecordHash(entries[i]) {
			fail("entry %d does not hash to its leaf", i)
		}
	}

	f, err := os.Open(casesPath)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	var inclusion, consistency, cosignatures int
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "inclusion":
			index, _ := strconv.ParseInt(fields[1], 10, 64)
			var proof tlog.RecordProof
			for _, h := range fields[2:] {
				proof = append(proof, decodeHash(h))
			}
			if err := tlog.CheckRecord(proof, size, tree.Hash, index, tlog.RecordHash(entries[index])); err != nil {
				fail("inclusion of %d in %d: %v", index, size, err)
			}
			// Go's own proof from the verified tiles is the same proof.
			own, err := tlog.ProveRecord(size, index, verified)
			if err != nil || len(own) != len(proof) {
				fail("ProveRecord %d in %d: %v", index, size, err)
			}
			for i := range own {
				if own[i] != proof[i] {
					fail("ProveRecord %d in %d differs at %d", index, size, i)
				}
			}
			inclusion++
		case "consistency":
			old, _ := strconv.ParseInt(fields[1], 10, 64)
			oldRoot := decodeHash(fields[2])
			var proof tlog.TreeProof
			for _, h := range fields[3:] {
				proof = append(proof, decodeHash(h))
			}
			if err := tlog.CheckTree(proof, size, tree.Hash, old, oldRoot); err != nil {
				fail("consistency %d to %d: %v", old, size, err)
			}
			consistency++
		case "cosignature":
			if _, err := checkCosignature(msg, n.Text, fields[1]); err != nil {
				fail("%v", err)
			}
			cosignatures++
		default:
			fail("unknown case %q", fields[0])
		}
	}
	if err := scanner.Err(); err != nil {
		fail("%v", err)
	}
	fmt.Printf("ok: %s size %d, %d inclusion, %d consistency, %d cosignatures\n",
		verifier.Name(), size, inclusion, consistency, cosignatures)
}
