// Command inspect lists the tensors of a checkpoint (safetensors, torch.save
// zip or legacy, TorchScript) and can convert it to safetensors.
//
//	go run ./examples/inspect FILE
//	go run ./examples/inspect FILE -convert out.safetensors [-f32]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/goclip/goclip/weights"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "inspect:", err)
		os.Exit(1)
	}
}

const usage = "usage: inspect FILE [-convert out.safetensors] [-f32] [-q]"

// run parses flags given before or after FILE, lists the tensors and
// optionally writes a safetensors copy.
func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	convert := fs.String("convert", "", "write a safetensors copy to this path")
	f32 := fs.Bool("f32", false, "with -convert: store F16/BF16/F64 tensors as F32")
	quiet := fs.Bool("q", false, "print only the summary")
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w\n%s", err, usage)
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		return errors.New(usage)
	}
	if *f32 && *convert == "" {
		return errors.New("-f32 needs -convert")
	}
	f, err := weights.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()

	if !*quiet {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE")
		for _, name := range f.Names() {
			t, _ := f.Tensor(name)
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, t.DType, shapeString(t.Shape))
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "%d tensors, %d parameters, format %s\n", len(f.Names()), f.NumParams(), f.Format())
	for k, v := range f.Metadata() {
		fmt.Fprintf(out, "metadata %s = %q\n", k, v)
	}
	if *convert == "" {
		return nil
	}
	var src weights.Source = f
	if *f32 {
		src = weights.AsFloat32(f)
	}
	if err := weights.WriteSafetensors(*convert, src, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", *convert)
	return nil
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
