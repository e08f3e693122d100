package clip

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// OpenAIFile describes one of OpenAI's published CLIP checkpoints.
type OpenAIFile struct {
	Model  string // preset name, e.g. "ViT-B/32"
	File   string // file name, e.g. "ViT-B-32.pt"
	SHA256 string // lowercase hex, the path segment of the download URL
}

// URL is the address OpenAI's clip.load downloads the file from.
func (f OpenAIFile) URL() string {
	return "https://openaipublic.azureedge.net/clip/models/" + f.SHA256 + "/" + f.File
}

// OpenAIFiles lists the nine checkpoints of openai/CLIP clip/clip.py _MODELS.
// The sha256 of each file is the URL segment before the file name, which
// clip._download checks.
var OpenAIFiles = []OpenAIFile{
	{"RN50", "RN50.pt", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762"},
	{"RN101", "RN101.pt", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599"},
	{"RN50x4", "RN50x4.pt", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd"},
	{"RN50x16", "RN50x16.pt", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa"},
	{"RN50x64", "RN50x64.pt", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c"},
	{"ViT-B/32", "ViT-B-32.pt", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"},
	{"ViT-B/16", "ViT-B-16.pt", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f"},
	{"ViT-L/14", "ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"},
	{"ViT-L/14@336px", "ViT-L-14-336px.pt", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"},
}

// FileSHA256 returns the lowercase hex sha256 of a file's contents.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha256: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyOpenAIFile checks a checkpoint against OpenAI's published hash. The
// expected hash is chosen by the file name (e.g. ViT-B-32.pt); a file whose
// content hash is one of the nine published hashes passes whatever its name.
func VerifyOpenAIFile(path string) error {
	got, err := FileSHA256(path)
	if err != nil {
		return err
	}
	for _, f := range OpenAIFiles {
		if f.SHA256 == got {
			return nil
		}
	}
	base := filepath.Base(path)
	for _, f := range OpenAIFiles {
		if strings.EqualFold(f.File, base) {
			return fmt.Errorf("sha256 %s: expected %s (OpenAI %s, %s), got %s: the file is corrupt or not OpenAI's", path, f.SHA256, f.Model, f.URL(), got)
		}
	}
	names := make([]string, len(OpenAIFiles))
	for i, f := range OpenAIFiles {
		names[i] = f.File
	}
	sort.Strings(names)
	return fmt.Errorf("sha256 %s: got %s, which is none of OpenAI's published checkpoints (%s)", path, got, strings.Join(names, ", "))
}

// verifySHA256 checks a file against an explicit expected hash.
func verifySHA256(path, want string) error {
	got, err := FileSHA256(path)
	if err != nil {
		return err
	}
	if !strings.EqualFold(got, want) {
		return fmt.Errorf("sha256 %s: expected %s, got %s", path, strings.ToLower(want), got)
	}
	return nil
}
