package testctx

import (
	"testing"
	"time"
)

type fixed struct {
	dl time.Time
	ok bool
}

func (f fixed) Deadline() (time.Time, bool) { return f.dl, f.ok }

func TestBoundedEndsBeforeTheBinarysDeadline(t *testing.T) {
	dl := time.Now().Add(time.Hour)
	ctx, cancel := Bounded(fixed{dl, true})
	defer cancel()
	got, ok := ctx.Deadline()
	if !ok || !got.Equal(dl.Add(-margin)) {
		t.Fatalf("deadline %v, %v; want %v", got, ok, dl.Add(-margin))
	}
}

func TestBoundedWithoutDeadlineEndsOnlyWhenCancelled(t *testing.T) {
	ctx, cancel := Bounded(fixed{})
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("a context with a deadline for a binary without one")
	}
	if ctx.Err() != nil {
		t.Fatal("ended before cancel")
	}
	cancel()
	if ctx.Err() == nil {
		t.Fatal("still running after cancel")
	}
}
