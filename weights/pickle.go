package weights

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// This file is a small pickle interpreter that builds plain Go values and
// accepts only the globals a PyTorch checkpoint needs. It never runs code.
//
// Values: None is nil; bool, int64, *big.Int (LONG beyond 64 bits), float64,
// string, []byte, complex128, pyTuple, *pyList, *pyDict, *pyObject
// (TorchScript module), *pyStorage (persistent id), *pyTensor.

type pyTuple []any

type pyList struct{ items []any }

// pyDict keeps insertion order; keys must be hashable scalars.
type pyDict struct {
	keys  []any
	vals  []any
	index map[any]int
}

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case nil, bool, int64, float64, string:
	default:
		return fmt.Errorf("unsupported dict key type %s", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// pyObject is an instance of a TorchScript class (`__torch__.*`).
type pyObject struct {
	class string
	attrs *pyDict // BUILD state when it is a dict
	state any     // BUILD state otherwise (custom __setstate__)
}

// pyGlobal is a whitelisted callable.
type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyStorageType is torch.<X>Storage.
type pyStorageType struct{ dtype DType }

// pyClass is a TorchScript class, instantiated by NEWOBJ.
type pyClass struct{ name string }

// pyStorage is what the persistent loader returns for ('storage', …).
type pyStorage struct {
	key    string
	dtype  DType
	numel  int64
	offset int64 // element offset into the record (legacy view_metadata)
}

// pyTensor is the result of torch._utils._rebuild_tensor_v2.
type pyTensor struct {
	storage *pyStorage
	offset  int64
	size    []int64
	stride  []int64
}

var storageTypes = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool,
}

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	// persistentLoad resolves BINPERSID ids; nil rejects them.
	persistentLoad func(pid any) (any, error)
	// torchScript allows `__torch__.*` classes.
	torchScript bool
}

func newUnpickler(data []byte) *unpickler {
	return &unpickler{data: data, memo: map[uint32]any{}}
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case pyGlobal:
		return "global " + v.String()
	case *pyObject:
		return "object " + v.class
	}
	return fmt.Sprintf("%T", v)
}

// load runs the machine from u.pos until STOP and returns the result.
// u.pos is left just after STOP, so several pickles can be read in sequence.
func (u *unpickler) load() (result any, err error) {
	start := u.pos
	u.stack, u.marks = u.stack[:0], u.marks[:0]
	u.memo = map[uint32]any{} // each pickle in a stream has its own memo
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pickle: internal error at byte %d: %v", u.pos, r)
		}
	}()
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle: truncated stream (no STOP after byte %d)", start)
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle: byte %d (opcode 0x%02x): %w", at, op, err)
		}
		if done {
			if len(u.stack) != 1 {
				return nil, fmt.Errorf("pickle: STOP with %d values on the stack", len(u.stack))
			}
			return u.stack[0], nil
		}
	}
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// maxTextArg bounds text arguments (GLOBAL names, text INT/LONG).
const maxTextArg = 4096

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:min(len(u.data), u.pos+maxTextArg)], '\n')
	if i < 0 {
		return "", fmt.Errorf("unterminated text argument")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) u8() (int, error) {
	b, err := u.read(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (u *unpickler) u16() (int, error) {
	b, err := u.read(2)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (u *unpickler) u32() (uint32, error) {
	b, err := u.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (u *unpickler) u64len() (int, error) {
	b, err := u.read(8)
	if err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(u.data)) {
		return 0, fmt.Errorf("length %d exceeds the stream", n)
	}
	return int(n), nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK and removes them.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// appendToList appends items to the list on top of the stack (APPEND,
// APPENDS, ADDITEMS).
func (u *unpickler) appendToList(op string, items []any) error {
	l, err := u.top()
	if err != nil {
		return err
	}
	pl, ok := l.(*pyList)
	if !ok {
		return fmt.Errorf("%s to %s", op, typeName(l))
	}
	pl.items = append(pl.items, items...)
	return nil
}

// lineIndex reads the decimal memo index of a text-protocol PUT or GET.
func (u *unpickler) lineIndex(op string) (uint32, error) {
	s, err := u.readLine()
	if err != nil {
		return 0, err
	}
	i, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q", op, s)
	}
	return uint32(i), nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo key %d not defined", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

// step executes one opcode; done is true after STOP.
func (u *unpickler) step(op byte) (done bool, err error) {
	switch op {
	case 0x80: // PROTO
		p, err := u.u8()
		if err != nil {
			return false, err
		}
		if p > 5 {
			return false, fmt.Errorf("unsupported pickle protocol %d", p)
		}
	case 0x95: // FRAME: the length is only a hint
		_, err = u.read(8)
	case '.': // STOP
		return true, nil
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'J': // BININT
		var v uint32
		if v, err = u.u32(); err == nil {
			u.push(int64(int32(v)))
		}
	case 'K': // BININT1
		var v int
		if v, err = u.u8(); err == nil {
			u.push(int64(v))
		}
	case 'M': // BININT2
		var v int
		if v, err = u.u16(); err == nil {
			u.push(int64(v))
		}
	case 'I': // INT (text; "01"/"00" are True/False)
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		switch s {
		case "01":
			u.push(true)
		case "00":
			u.push(false)
		default:
			v, perr := strconv.ParseInt(s, 10, 64)
			if perr != nil {
				return false, fmt.Errorf("bad INT %q", s)
			}
			u.push(v)
		}
	case 'L': // LONG (text, protocols 0-1): decimal digits with an optional trailing L
		var s string
		if s, err = u.readLine(); err != nil {
			return false, err
		}
		v, ok := new(big.Int).SetString(strings.TrimSuffix(s, "L"), 10)
		if !ok {
			return false, fmt.Errorf("bad LONG %q", s)
		}
		if v.IsInt64() {
			u.push(v.Int64())
		} else {
			u.push(v)
		}
	case 0x8a, 0x8b: // LONG1, LONG4
		var n int
		if op == 0x8a {
			n, err = u.u8()
		} else {
			var v uint32
			v, err = u.u32()
			n = int(int32(v))
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err != nil {
			return false, err
		}
		u.push(decodeLong(b))
	case 'G': // BINFLOAT (big-endian)
		var b []byte
		if b, err = u.read(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		var n int
		switch op {
		case 'X':
			var v uint32
			v, err = u.u32()
			n = int(v)
		case 0x8c:
			n, err = u.u8()
		default:
			n, err = u.u64len()
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(string(b))
		}
	case 'T', 'U': // BINSTRING, SHORT_BINSTRING (Python 2 str)
		var n int
		if op == 'T' {
			var v uint32
			v, err = u.u32()
			n = int(int32(v))
		} else {
			n, err = u.u8()
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(string(b))
		}
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		var n int
		switch op {
		case 'B':
			var v uint32
			v, err = u.u32()
			n = int(v)
		case 'C':
			n, err = u.u8()
		default:
			n, err = u.u64len()
		}
		if err != nil {
			return false, err
		}
		var b []byte
		if b, err = u.read(n); err == nil {
			u.push(append([]byte(nil), b...))
		}
	case ')':
		u.push(pyTuple{})
	case 't':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(pyTuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op - 0x84)
		if len(u.stack) < n || (len(u.marks) > 0 && len(u.stack)-n < u.marks[len(u.marks)-1]) {
			return false, fmt.Errorf("stack underflow")
		}
		t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case ']':
		u.push(&pyList{})
	case 'l':
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pyList{items: items})
		}
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		if op == 'a' {
			var v any
			if v, err = u.pop(); err != nil {
				return false, err
			}
			items = []any{v}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		return false, u.appendToList("APPEND", items)
	case 0x8f: // EMPTY_SET (kept as a list)
		u.push(&pyList{})
	case 0x90: // ADDITEMS
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		return false, u.appendToList("ADDITEMS", items)
	case 0x91: // FROZENSET
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pyList{items: items})
		}
	case '}':
		u.push(newDict())
	case 'd':
		var items []any
		if items, err = u.popMark(); err != nil {
			return false, err
		}
		d := newDict()
		if err = setItems(d, items); err == nil {
			u.push(d)
		}
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		if op == 's' {
			var k, v any
			if v, err = u.pop(); err != nil {
				return false, err
			}
			if k, err = u.pop(); err != nil {
				return false, err
			}
			items = []any{k, v}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		var d any
		if d, err = u.top(); err != nil {
			return false, err
		}
		pd, ok := d.(*pyDict)
		if !ok {
			return false, fmt.Errorf("SETITEM on %s", typeName(d))
		}
		err = setItems(pd, items)
	case 'q': // BINPUT
		var i int
		if i, err = u.u8(); err == nil {
			err = u.memoPut(uint32(i))
		}
	case 'r': // LONG_BINPUT
		var i uint32
		if i, err = u.u32(); err == nil {
			err = u.memoPut(i)
		}
	case 0x94: // MEMOIZE
		err = u.memoPut(uint32(len(u.memo)))
	case 'p': // PUT (text)
		var i uint32
		if i, err = u.lineIndex("PUT"); err == nil {
			err = u.memoPut(i)
		}
	case 'h': // BINGET
		var i int
		if i, err = u.u8(); err == nil {
			err = u.memoGet(uint32(i))
		}
	case 'j': // LONG_BINGET
		var i uint32
		if i, err = u.u32(); err == nil {
			err = u.memoGet(i)
		}
	case 'g': // GET (text)
		var i uint32
		if i, err = u.lineIndex("GET"); err == nil {
			err = u.memoGet(i)
		}
	case 'c': // GLOBAL
		var mod, name string
		if mod, err = u.readLine(); err != nil {
			return false, err
		}
		if name, err = u.readLine(); err != nil {
			return false, err
		}
		var g any
		if g, err = u.global(mod, name); err == nil {
			u.push(g)
		}
	case 0x93: // STACK_GLOBAL
		var mod, name any
		if name, err = u.pop(); err != nil {
			return false, err
		}
		if mod, err = u.pop(); err != nil {
			return false, err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("STACK_GLOBAL needs two strings")
		}
		var g any
		if g, err = u.global(ms, ns); err == nil {
			u.push(g)
		}
	case 'R': // REDUCE
		var f, args any
		if args, err = u.pop(); err != nil {
			return false, err
		}
		if f, err = u.pop(); err != nil {
			return false, err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return false, fmt.Errorf("REDUCE arguments are %s, not a tuple", typeName(args))
		}
		var v any
		if v, err = call(f, t); err == nil {
			u.push(v)
		}
	case 0x81, 0x92: // NEWOBJ, NEWOBJ_EX
		if op == 0x92 {
			if _, err = u.pop(); err != nil { // kwargs
				return false, err
			}
		}
		var cls, args any
		if args, err = u.pop(); err != nil {
			return false, err
		}
		if cls, err = u.pop(); err != nil {
			return false, err
		}
		switch c := cls.(type) {
		case pyClass:
			u.push(&pyObject{class: c.name})
		case pyGlobal:
			t, ok := args.(pyTuple)
			if !ok {
				return false, fmt.Errorf("NEWOBJ arguments are %s, not a tuple", typeName(args))
			}
			var v any
			if v, err = call(c, t); err == nil {
				u.push(v)
			}
		default:
			return false, fmt.Errorf("NEWOBJ on %s", typeName(cls))
		}
	case 'b': // BUILD
		var state, obj any
		if state, err = u.pop(); err != nil {
			return false, err
		}
		if obj, err = u.top(); err != nil {
			return false, err
		}
		switch o := obj.(type) {
		case *pyObject:
			if d, ok := state.(*pyDict); ok {
				o.attrs = d
			} else {
				o.state = state
			}
		case *pyDict, *pyTensor:
			// OrderedDict._metadata and tensor attributes carry no weights.
		default:
			return false, fmt.Errorf("BUILD on %s", typeName(obj))
		}
	case 'Q': // BINPERSID
		var pid any
		if pid, err = u.pop(); err != nil {
			return false, err
		}
		if u.persistentLoad == nil {
			return false, fmt.Errorf("persistent id in a stream that allows none")
		}
		var v any
		if v, err = u.persistentLoad(pid); err == nil {
			u.push(v)
		}
	default:
		return false, fmt.Errorf("unsupported opcode")
	}
	return false, err
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// decodeLong decodes a little-endian two's complement integer.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

// global resolves module.name against the whitelist.
func (u *unpickler) global(mod, name string) (any, error) {
	switch {
	case mod == "torch" && strings.HasSuffix(name, "Storage"):
		if dt, ok := storageTypes[name]; ok {
			return pyStorageType{dt}, nil
		}
	case mod == "collections" && name == "OrderedDict",
		mod == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_tensor" ||
			name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state"),
		mod == "torch" && name == "device",
		mod == "torch.jit._pickle" && (name == "build_intlist" || name == "build_tensorlist" ||
			name == "build_doublelist" || name == "build_boollist" || name == "restore_type_tag"),
		(mod == "builtins" || mod == "__builtin__") && (name == "complex" || name == "set" || name == "frozenset"),
		mod == "_codecs" && name == "encode":
		return pyGlobal{mod, name}, nil
	case u.torchScript && (mod == "__torch__" || strings.HasPrefix(mod, "__torch__.")):
		return pyClass{mod + "." + name}, nil
	}
	return nil, fmt.Errorf("global %s.%s is not allowed (only tensors, dicts of tensors and TorchScript modules are read; "+
		"for a pickled nn.Module, save its state_dict() instead)", mod, name)
}

// call applies a whitelisted callable (REDUCE).
func call(f any, args pyTuple) (any, error) {
	g, ok := f.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("cannot call %s", typeName(f))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		d := newDict()
		if len(args) == 1 {
			l, ok := args[0].(*pyList)
			if !ok {
				return nil, fmt.Errorf("OrderedDict(%s)", typeName(args[0]))
			}
			for _, kv := range l.items {
				p, ok := kv.(pyTuple)
				if pl, isList := kv.(*pyList); isList { // Python 2 pickles [k, v] lists
					p, ok = pyTuple(pl.items), true
				}
				if !ok || len(p) != 2 {
					return nil, fmt.Errorf("OrderedDict item is not a pair")
				}
				if err := d.set(p[0], p[1]); err != nil {
					return nil, err
				}
			}
		} else if len(args) != 0 {
			return nil, fmt.Errorf("OrderedDict with %d arguments", len(args))
		}
		return d, nil
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return rebuildTensor(args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(args) < 1 {
			return nil, fmt.Errorf("%s without arguments", g)
		}
		t, ok := args[0].(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("%s of %s", g, typeName(args[0]))
		}
		return t, nil
	case "torch.device":
		if len(args) < 1 {
			return nil, fmt.Errorf("torch.device without arguments")
		}
		return fmt.Sprint(args[0]), nil
	case "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
		"torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist":
		if len(args) != 1 {
			return nil, fmt.Errorf("%s with %d arguments", g, len(args))
		}
		return args[0], nil
	case "torch.jit._pickle.restore_type_tag":
		if len(args) < 1 {
			return nil, fmt.Errorf("%s without arguments", g)
		}
		return args[0], nil
	case "builtins.complex", "__builtin__.complex":
		var re, im float64
		if len(args) > 0 {
			re, _ = toFloat(args[0])
		}
		if len(args) > 1 {
			im, _ = toFloat(args[1])
		}
		return complex(re, im), nil
	case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset":
		if len(args) == 0 {
			return &pyList{}, nil
		}
		if l, ok := args[0].(*pyList); ok {
			return &pyList{items: append([]any(nil), l.items...)}, nil
		}
		return nil, fmt.Errorf("%s(%s)", g, typeName(args[0]))
	case "_codecs.encode":
		if len(args) < 1 {
			return nil, fmt.Errorf("_codecs.encode without arguments")
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("_codecs.encode(%s)", typeName(args[0]))
		}
		b := make([]byte, 0, len(s))
		for _, r := range s { // latin-1, as Python 2-compatible bytes pickling uses
			if r > 255 {
				return nil, fmt.Errorf("_codecs.encode: rune %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	}
	return nil, fmt.Errorf("cannot call %s", g)
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	}
	return 0, false
}

func toInts(v any) ([]int64, bool) {
	var items []any
	switch v := v.(type) {
	case pyTuple:
		items = v
	case *pyList:
		items = v.items
	default:
		return nil, false
	}
	out := make([]int64, len(items))
	for i, x := range items {
		n, ok := x.(int64)
		if !ok {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// rebuildTensor handles _rebuild_tensor_v2(storage, offset, size, stride,
// requires_grad, hooks[, metadata]) and _rebuild_tensor(storage, offset, size, stride).
func rebuildTensor(args pyTuple) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor with %d arguments", len(args))
	}
	st, ok := args[0].(*pyStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor storage is %s", typeName(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor: bad storage offset %v", args[1])
	}
	size, ok1 := toInts(args[2])
	stride, ok2 := toInts(args[3])
	if !ok1 || !ok2 || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor: bad size %v / stride %v", args[2], args[3])
	}
	return &pyTensor{storage: st, offset: off, size: size, stride: stride}, nil
}

// storageFromPID decodes ('storage', torch.XStorage, key, location, numel[, view_metadata]).
// Device tags are ignored.
func storageFromPID(pid any) (*pyStorage, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) < 5 {
		return nil, fmt.Errorf("persistent id %s is not a storage tuple", typeName(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id kind %v is not 'storage'", t[0])
	}
	st, ok := t[1].(pyStorageType)
	if !ok {
		return nil, fmt.Errorf("persistent id storage type is %s", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id key is %s", typeName(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id numel %v is invalid", t[4])
	}
	s := &pyStorage{key: key, dtype: st.dtype, numel: numel}
	if len(t) >= 6 && t[5] != nil {
		// Legacy storage view: (view_key, offset, view_size).
		v, ok := t[5].(pyTuple)
		if !ok || len(v) != 3 {
			return nil, fmt.Errorf("bad storage view metadata %s", typeName(t[5]))
		}
		off, ok1 := v[1].(int64)
		size, ok2 := v[2].(int64)
		if !ok1 || !ok2 || off < 0 || size < 0 || off > numel || size > numel-off {
			return nil, fmt.Errorf("storage view [%v, +%v) outside storage of %d elements", v[1], v[2], numel)
		}
		s.offset, s.numel = off, size
	}
	return s, nil
}
