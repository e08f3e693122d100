package clip

import (
	"html"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// ftfyFix is the part of ftfy.fix_text (6.3, default settings) that is
// table-driven, applied per line until nothing changes, as ftfy does:
// unescape_html (entities ending in ';', all-caps Latin names; off from the
// first line containing '<'), fix_latin_ligatures, fix_character_width,
// uncurl_quotes, remove_control_chars and NFC. ftfy's mojibake repair
// (fix_encoding) is heuristic and not ported: such text stays as it is.
func ftfyFix(text string) string {
	var sb strings.Builder
	unescape := true
	for len(text) > 0 {
		k := strings.IndexByte(text, '\n') + 1
		if k == 0 {
			k = len(text)
		}
		seg := text[:k]
		text = text[k:]
		if strings.Contains(seg, "<") {
			unescape = false
		}
		for {
			orig := seg
			if unescape {
				seg = ftfyUnescape(seg)
			}
			seg = strings.Map(ftfyMapRune, seg)
			seg = ftfyExpand(seg)
			seg = norm.NFC.String(seg)
			if seg == orig {
				break
			}
		}
		sb.WriteString(seg)
	}
	return sb.String()
}

// ftfyMapRune applies width folding, quote uncurling and control removal.
func ftfyMapRune(r rune) rune {
	switch {
	case r == 0x3000:
		return ' '
	case r == 0x02BC || (r >= 0x2018 && r <= 0x201B):
		return '\''
	case r >= 0x201C && r <= 0x201F:
		return '"'
	case r <= 0x08, r == 0x0B, r >= 0x0E && r <= 0x1F, r == 0x7F,
		r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFC:
		return -1
	}
	return r
}

// ftfyLigatures is ftfy's LIGATURES table.
var ftfyLigatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn", 'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

// ftfyExpand replaces ligatures and half/full-width forms (U+FF01..U+FFEF,
// by their NFKC form), then uncurls quotes that the expansion produced.
func ftfyExpand(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0xFF01 && r <= 0xFFEF || ftfyLigatures[r] != "" }) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if l := ftfyLigatures[r]; l != "" {
			sb.WriteString(l)
		} else if r >= 0xFF01 && r <= 0xFFEF {
			sb.WriteString(norm.NFKC.String(string(r)))
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// ftfyUnescape is ftfy's unescape_html: &#?[0-9A-Za-z]{1,24}; references
// that are whole HTML5 entities (or numeric references) are decoded, and
// all-caps forms of lowercase entity names decode to the uppercased text.
func ftfyUnescape(s string) string { return replaceRefs(s, ftfyRef) }

// ftfyRef matches &#?[0-9A-Za-z]{1,24}; at the start of s and decodes it.
func ftfyRef(s string) (int, string) {
	j := 1
	if len(s) > 1 && s[1] == '#' {
		j = 2
	}
	n := j
	for n < len(s) && n-j < 24 && isASCIIAlnum(s[n]) {
		n++
	}
	if n == j || n >= len(s) || s[n] != ';' {
		return 0, ""
	}
	return n + 1, ftfyEntity(s[:n+1])
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ftfyEntity decodes one "&name;" or "&#...;" reference as ftfy does.
func ftfyEntity(ref string) string {
	if strings.HasPrefix(ref, "&#") {
		if u := htmlUnescape(ref); !strings.Contains(u, ";") {
			return u
		}
		return ref
	}
	if v, ok := exactEntity(ref); ok {
		return v
	}
	lower := strings.ToLower(ref)
	if lower != ref && strings.ToUpper(lower) == ref && htmlUnescape(ref) == ref {
		if v, ok := exactEntity(lower); ok {
			return strings.ToUpperSpecial(unicode.SpecialCase{}, strings.ReplaceAll(v, "ß", "SS"))
		}
	}
	return ref
}

// exactEntity looks ref ("&name;") up as a whole HTML5 entity: Go's
// resolver falls back to a legacy prefix and then leaves the rest, ending
// in ';', which no whole entity's text does except "&semi;".
func exactEntity(ref string) (string, bool) {
	u := html.UnescapeString(ref)
	if u == ref || (strings.HasSuffix(u, ";") && ref != "&semi;") {
		return "", false
	}
	return u, true
}
