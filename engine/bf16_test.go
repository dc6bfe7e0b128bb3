package engine

import (
	"math"
	"testing"
)

func TestToBF16(t *testing.T) {
	cases := []struct {
		name string
		in   uint32 // float32 bits
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"exact", 0x3fc10000, 0x3fc1},
		{"below half rounds down", 0x3f807fff, 0x3f80},
		{"half to even (down)", 0x3f808000, 0x3f80},
		{"half to even (up)", 0x3f818000, 0x3f82},
		{"above half rounds up", 0x3f808001, 0x3f81},
		{"negative", 0xbf818001, 0xbf82},
		{"carry into exponent", 0x3fffffff, 0x4000},
		{"largest finite rounds to inf", 0x7f7fffff, 0x7f80},
		{"inf", 0x7f800000, 0x7f80},
		{"-inf", 0xff800000, 0xff80},
		{"zero", 0, 0},
		{"-zero", 0x80000000, 0x8000},
		{"smallest denormal to zero", 0x00000001, 0x0000},
		{"NaN stays NaN", 0x7f800001, 0x7fc0},
		{"negative NaN", 0xffc00000, 0xffc0},
	}
	for _, c := range cases {
		got := ToBF16(math.Float32frombits(c.in))
		if got != c.want {
			t.Errorf("%s: ToBF16(%#08x) = %#04x, want %#04x", c.name, c.in, got, c.want)
		}
	}
	// Every bfloat16 value round-trips.
	for h := 0; h < 1<<16; h++ {
		v := FromBF16(uint16(h))
		if v != v {
			continue
		}
		if got := ToBF16(v); got != uint16(h) {
			t.Fatalf("ToBF16(FromBF16(%#04x)) = %#04x", h, got)
		}
	}
}

func TestPoolSetDType(t *testing.T) {
	p := NewPool("narrow", Float32)
	a := p.NewBatched("a", 4, 3, 5)
	v := a.View(4, 15)
	if err := p.SetDType(BFloat16); err != nil {
		t.Fatal(err)
	}
	if a.DType() != BFloat16 || v.DType() != BFloat16 || p.DType() != BFloat16 {
		t.Fatalf("dtypes after SetDType: pool %s, tensor %s, view %s", p.DType(), a.DType(), v.DType())
	}
	if want := int64(p.Size()) * 2; p.Bytes() != want {
		t.Fatalf("Bytes %d, want %d", p.Bytes(), want)
	}
	if err := NewPool("idx", Int32).SetDType(BFloat16); err == nil {
		t.Fatal("SetDType turned an int32 pool into bfloat16")
	}
	cpu := NewCPU(1)
	if err := p.Allocate(cpu); err == nil {
		t.Fatal("the CPU engine allocated a bfloat16 pool")
	}
	q := NewPool("q", Float32)
	q.New("x", 2)
	if err := q.Allocate(cpu); err != nil {
		t.Fatal(err)
	}
	if err := q.SetDType(BFloat16); err == nil {
		t.Fatal("SetDType changed an allocated pool")
	}
}

func TestPoolMove(t *testing.T) {
	p, to := NewPool("acts", Float32), NewPool("narrow", Float32)
	a := p.NewBatched("a", 4, 3)
	b := p.NewBatched("b", 4, 5, 5)
	c := p.New("c", 7)
	if err := p.Move([]*Tensor{b}, to); err != nil {
		t.Fatal(err)
	}
	if got := p.Tensors(); len(got) != 2 || got[0] != a || got[1] != c {
		t.Fatalf("left in p: %v", got)
	}
	if got := to.Tensors(); len(got) != 1 || got[0] != b || b.off != 0 || to.MaxBatch() != 4 {
		t.Fatalf("moved: %v at offset %d, max batch %d", got, b.off, to.MaxBatch())
	}
	if a.off != 0 || c.off != 16 || p.Size() != 32 || to.Size() != 112 {
		t.Fatalf("offsets a %d c %d, sizes %d and %d", a.off, c.off, p.Size(), to.Size())
	}
	if err := p.Move([]*Tensor{b}, to); err == nil {
		t.Fatal("moved a tensor the pool does not hold")
	}
	if err := p.Move(nil, NewPool("idx", Int32)); err == nil {
		t.Fatal("moved into a pool of another dtype")
	}
}
