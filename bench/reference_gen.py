#!/usr/bin/env python3
"""Speed reference for `planform bench gen`: a self-contained re-statement of the
Searchformer trace-generation loop (facebookresearch/searchformer).

This is NOT the reference code (which needs MongoDB, click, pymongo and numpy and
cannot be vendored here). It is written from reading `searchformer/astar.py`,
`searchformer/maze.py`, `searchformer/trace.py` and `searchformer/sokoban.py` and
keeps their algorithmic structure and data structures, so that its speed is
representative of the reference:

* A* (`astar.py`): node objects whose `cost` property recomputes `g + h`,
  `__lt__`/`__le__` with hash tie-break (deterministic) or a coin flip
  (nondeterministic), `__hash__`/`__eq__` through the state hash; a `heapq` open
  list plus an open dict for membership; a closed dict; a log of step objects
  (create/close/plan) each carrying a fresh `state` dict; `list.remove` +
  `heapify` when a cheaper duplicate is found; the plan rebuilt with
  `list.insert(0, ...)`.
* Maze (`maze.py`): `GridPos` objects; the spec's `is_pos_in_spec` scans the whole
  wall list for every neighbour; the `MazeTraceDataset.generate` loop (shuffle all
  cells, draw the wall count, 100 start/goal attempts, unsolvable and short plans
  dropped, the plan sanity asserts, unique tasks keyed by the spec id, the trace
  stored as a dict); then, as in `python -m searchformer.maze tokenize`, each
  stored dict is turned back into a trace and tokenized by a `SimpleMazeTokenizer`
  (string tokens; `Tokenizer.__call__` rebuilds the vocabulary set and checks it).
* Sokoban (`sokoban.py`): `generate_level` (set/product sampling), the `Sokoban`
  class on a list-of-lists board (`deepcopy` per child and per logged state, the
  heuristic recomputed on every `cost` access), nondeterministic A*, the trace
  stored as a dict, `WithBoxSokobanTokenizer` (40,016-token vocabulary), the
  uniqueness rule (`_id = hash(level)`) and the training length filter
  (reasoning < 10,000 tokens).

MongoDB writes and reads are left out (the anchors in /work/shared/anchors.md
were measured the same way); the dict round trip that surrounds them is kept.
The reference heuristic uses small numpy arrays; by default this file uses plain
Python lists instead (faster for 2 boxes, i.e. the conservative choice for a
speed comparison); `--numpy` uses numpy like the reference when it is installed.

Token counts are prompt + reasoning + plan, without bos/eos (the reference's
TokenizedTrace lists; DictTokenizer adds bos/eos only when batching).

Usage (plain python3, no extra packages):

    python3 bench/reference_gen.py gen --domain maze --size 10 --mode det --seconds 5
    python3 bench/reference_gen.py gen --domain sokoban --seconds 5
    python3 bench/reference_gen.py solve-maze --mode det < tasks.jsonl
    python3 bench/reference_gen.py sample-sokoban --count 5 --seed 1
    python3 bench/reference_gen.py solve-sokoban --seed 1 < levels.jsonl

`gen` runs until `--seconds` of process CPU time (`--budget wall`: wall time) have
passed and prints one JSON object: {"tasks", "tokens", "seconds" (wall), "cpu_seconds", ...}.
"""

import argparse
import functools
import heapq
import json
import math
import random
import sys
import time
from copy import deepcopy
from itertools import chain, product

# --------------------------------------------------------------------------
# A* (astar.py)
# --------------------------------------------------------------------------


class SearchNode:
    """One A* node; subclasses give state, children, heuristic, hash, goal test."""

    def __init__(self, parent=None, deterministic=True):
        self.parent = parent
        self.deterministic = deterministic

    @property
    def children(self):
        kids = self._get_children()
        if not self.deterministic:
            random.shuffle(kids)
        return kids

    @property
    def cost(self):
        return self.heuristic + self.cost_from_start

    def __eq__(self, other):
        if not isinstance(other, SearchNode):
            return False
        return hash(self) == hash(other)

    # Same branch structure as the reference: `cost` (and so the heuristic) is
    # re-evaluated in every condition, up to six times per comparison.
    def __lt__(self, other):
        if self.cost == other.cost and self.deterministic:
            return hash(self) < hash(other)
        elif self.cost == other.cost and not self.deterministic:
            return random.choice([False, True])
        else:
            return self.cost < other.cost

    def __le__(self, other):
        return self.__lt__(other)


class LogStep:
    """One line of the A* log (the reference's TraceStep dataclass)."""

    def __init__(self, action, state, cost_from_start, heuristic):
        self.action = action
        self.state = state
        self.cost_from_start = cost_from_start
        self.heuristic = heuristic

    def to_dict(self):
        return dict(
            action=self.action,
            state=self.state,
            cost_from_start=self.cost_from_start,
            heuristic=self.heuristic,
        )

    @staticmethod
    def from_dict(d):
        return LogStep(**d)


class CreateStep(LogStep):
    def __init__(self, **kw):
        super().__init__(action="create", **kw)


class CloseStep(LogStep):
    def __init__(self, **kw):
        super().__init__(action="close", **kw)


class PlanStep(LogStep):
    def __init__(self, **kw):
        super().__init__(action="plan", **kw)


class Unsolvable(Exception):
    pass


def astar(start):
    """A* with the reference's open heap + open dict, closed dict and step log."""
    heap = []
    open_nodes = {}
    closed = {}
    log = []

    node = start
    heapq.heappush(heap, node)
    open_nodes[node] = node
    log.append(
        CreateStep(
            state=node.state,
            cost_from_start=node.cost_from_start,
            heuristic=node.heuristic,
        )
    )
    while len(heap) > 0:
        node = heapq.heappop(heap)
        del open_nodes[node]
        closed[node] = node
        log.append(
            CloseStep(
                state=node.state,
                cost_from_start=node.cost_from_start,
                heuristic=node.heuristic,
            )
        )
        if node.cost == float("inf"):
            raise Unsolvable()
        if node.is_goal:
            break
        for child in node.children:
            if child in open_nodes.keys():
                if open_nodes[child].cost <= child.cost:
                    continue
                heap.remove(child)
                heapq.heapify(heap)
                del open_nodes[child]
            if child in closed.keys():
                if closed[child].cost <= child.cost:
                    continue
            heapq.heappush(heap, child)
            open_nodes[child] = child
            log.append(
                CreateStep(
                    state=child.state,
                    cost_from_start=child.cost_from_start,
                    heuristic=child.heuristic,
                )
            )
    if not node.is_goal:
        raise Unsolvable()
    path = [node]
    prev = node.parent
    while prev is not None:
        path.insert(0, prev)
        prev = prev.parent
    for p in path:
        log.append(
            PlanStep(
                state=p.state,
                cost_from_start=p.cost_from_start,
                heuristic=p.heuristic,
            )
        )
    return log


class Tokenizer:
    """Sorted vocabulary; every call re-checks the tokens against it (trace.py)."""

    def __init__(self, vocabulary):
        words = list(vocabulary)
        words.sort()
        self._words = tuple(words)

    @property
    def vocabulary(self):
        return set(self._words)

    def __call__(self, trace):
        seq = self.tokenize(trace)
        vocab = self.vocabulary
        assert vocab.issuperset(seq["prompt"]), "prompt outside vocabulary"
        assert vocab.issuperset(seq["reasoning"]), "reasoning outside vocabulary"
        assert vocab.issuperset(seq["plan"]), "plan outside vocabulary"
        return seq


def token_count(seq):
    return len(seq["prompt"]) + len(seq["reasoning"]) + len(seq["plan"])


# --------------------------------------------------------------------------
# Maze (maze.py)
# --------------------------------------------------------------------------


class GridPos:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __hash__(self):
        assert self.x < 100000
        return int(self.x + 100000 * self.y)

    def __eq__(self, other):
        assert isinstance(other, GridPos)
        return self.x == other.x and self.y == other.y

    def to_idx(self, width):
        return self.x + self.y * width

    @staticmethod
    def from_idx(idx, width):
        return GridPos(x=idx % width, y=idx // width)

    def to_dict(self):
        return {"x": self.x, "y": self.y}

    @staticmethod
    def from_dict(d):
        return GridPos(x=int(d["x"]), y=int(d["y"]))

    @property
    def up(self):
        return GridPos(self.x, self.y + 1)

    @property
    def down(self):
        return GridPos(self.x, self.y - 1)

    @property
    def left(self):
        return GridPos(self.x - 1, self.y)

    @property
    def right(self):
        return GridPos(self.x + 1, self.y)

    def distance(self, other):
        return abs(self.x - other.x) + abs(self.y - other.y)


class MazeSpec:
    def __init__(self, width, height, start, goal, walls):
        self.width = width
        self.height = height
        self.start = start
        self.goal = goal
        self.walls = walls

    @property
    def wall_int_seq(self):
        idx = [p.to_idx(self.width) for p in self.walls]
        idx.sort()
        return tuple(idx)

    @property
    def int_seq(self):
        return (
            self.width,
            self.height,
            self.start.to_idx(self.width),
            self.goal.to_idx(self.width),
            *self.wall_int_seq,
        )

    @property
    def id(self):
        return "-".join(map(str, self.int_seq))

    @property
    def spec_hash(self):
        return hash("-".join(map(str, self.int_seq)))

    @property
    def maze_hash(self):
        return hash("-".join(map(str, self.wall_int_seq)))

    @staticmethod
    def from_int_seq(seq):
        width, height, start, goal = seq[:4]
        return MazeSpec(
            width=width,
            height=height,
            start=GridPos.from_idx(start, width),
            goal=GridPos.from_idx(goal, width),
            walls=[GridPos.from_idx(i, width) for i in seq[4:]],
        )

    def is_pos_in_spec(self, pos):
        inside_x = pos.x >= 0 and pos.x < self.width
        inside_y = pos.y >= 0 and pos.y < self.height
        hit = False
        for w in self.walls:  # full scan, no early exit (as in the reference)
            hit = hit or (w == pos)
        return inside_x and inside_y and not hit

    def is_pos_in_wall(self, pos):
        for w in self.walls:
            if pos == w:
                return True
        return False

    def neighborhood(self, pos):
        out = []
        for cand in (pos.up, pos.down, pos.left, pos.right):
            if self.is_pos_in_spec(cand):
                out.append(cand)
        return out

    def to_dict(self):
        return {
            "width": self.width,
            "height": self.height,
            "start": self.start.to_dict(),
            "goal": self.goal.to_dict(),
            "walls": [w.to_dict() for w in self.walls],
        }

    @staticmethod
    def from_dict(d):
        return MazeSpec(
            width=int(d["width"]),
            height=int(d["height"]),
            start=GridPos.from_dict(d["start"]),
            goal=GridPos.from_dict(d["goal"]),
            walls=[GridPos.from_dict(w) for w in d["walls"]],
        )


class MazeNode(SearchNode):
    def __init__(self, spec, position=None, cost_from_start=0.0, parent=None, deterministic=True):
        super().__init__(parent, deterministic=deterministic)
        self.position = spec.start if position is None else position
        self.maze_spec = spec
        self._g = cost_from_start

    @property
    def state(self):
        return {"x": self.position.x, "y": self.position.y}

    def _get_children(self):
        kids = []
        for p in self.maze_spec.neighborhood(self.position):
            kids.append(
                MazeNode(
                    spec=self.maze_spec,
                    position=p,
                    cost_from_start=self.cost_from_start + 1,
                    parent=self,
                    deterministic=self.deterministic,
                )
            )
        return kids

    @property
    def heuristic(self):
        return float(self.position.distance(self.maze_spec.goal))

    @property
    def cost_from_start(self):
        return self._g

    def __hash__(self):
        return hash(self.position)

    @property
    def is_goal(self):
        return self.position == self.maze_spec.goal


class MazeTrace:
    def __init__(self, spec, trace):
        self.spec = spec
        self.trace = trace

    def __hash__(self):
        return self.spec.spec_hash

    @staticmethod
    def from_int_seq(seq, deterministic=True):
        spec = MazeSpec.from_int_seq(seq)
        return MazeTrace(spec, astar(MazeNode(spec, deterministic=deterministic)))

    def to_dict(self):
        return {"spec": self.spec.to_dict(), "trace": [s.to_dict() for s in self.trace]}

    @staticmethod
    def from_dict(d):
        return MazeTrace(
            spec=MazeSpec.from_dict(d["spec"]),
            trace=[LogStep.from_dict(s) for s in d["trace"]],
        )

    @property
    def plan(self):
        return [s for s in self.trace if s.action == "plan"]

    @property
    def reasoning_trace(self):
        return [s for s in self.trace if s.action != "plan"]

    @property
    def plan_start_correct(self):
        return GridPos(**self.plan[0].state) == self.spec.start

    @property
    def plan_reaches_goal(self):
        return GridPos(**self.plan[-1].state) == self.spec.goal

    @property
    def plan_enters_wall(self):
        return any(map(self.spec.is_pos_in_wall, (GridPos(**s.state) for s in self.plan)))

    @property
    def plan_steps_distances_correct(self):
        plan = self.plan
        for a, b in zip(plan[:-1], plan[1:]):
            if GridPos(**a.state).distance(GridPos(**b.state)) != 1:
                return False
        return True


def maze_layout(width, height, deterministic, attempts=100):
    """One call of MazeTraceDataset.generate without the MongoDB insert: returns
    (maze_hash, {task id: trace dict})."""
    cells = list(range(width * height))
    random.shuffle(cells)
    n_walls = random.randint(a=len(cells) // 10 * 3, b=len(cells) // 10 * 5)
    walls = cells[:n_walls]
    walls.sort()
    free = cells[n_walls:]
    maze_hash = None
    stored = {}
    for _ in range(attempts):
        random.shuffle(free)
        start, goal = free[:2]
        try:
            trace = MazeTrace.from_int_seq([width, height, start, goal, *walls], deterministic)
        except Unsolvable:
            continue
        if not trace.plan_reaches_goal:
            continue
        if len(trace.plan) < max(width, height):
            continue
        assert not trace.plan_enters_wall
        assert trace.plan_start_correct
        assert trace.plan_steps_distances_correct
        key = trace.spec.id
        if maze_hash is None:
            maze_hash = trace.spec.maze_hash
        if key not in stored.keys():
            stored[key] = trace.to_dict()
    return maze_hash, stored


class MazeTokenizer(Tokenizer):
    """SimpleMazeTokenizer: string tokens for prompt, create/close clauses, plan."""

    def __init__(self, width, height):
        words = [str(i) for i in range(max(width, height))]
        words += [f"c{i}" for i in range(width * height)]
        words += ["start", "goal", "wall", "create", "close", "plan"]
        super().__init__(words)

    def tokenize(self, trace):
        spec = trace.spec
        prompt = ["start", str(spec.start.x), str(spec.start.y), "goal", str(spec.goal.x), str(spec.goal.y)]
        for w in spec.walls:
            prompt += ["wall", str(w.x), str(w.y)]
        reasoning = []
        for step in trace.reasoning_trace:
            pos = GridPos(**step.state)
            assert not math.isinf(step.cost_from_start)
            assert not math.isnan(step.cost_from_start)
            assert not math.isinf(step.heuristic)
            assert not math.isnan(step.heuristic)
            reasoning += [
                step.action,
                str(pos.x),
                str(pos.y),
                f"c{int(step.cost_from_start)}",
                f"c{int(step.heuristic)}",
            ]
        plan = []
        for step in trace.plan:
            pos = GridPos(**step.state)
            plan += [step.action, str(pos.x), str(pos.y)]
        return {"id": hash(trace), "prompt": prompt, "reasoning": reasoning, "plan": plan}


# --------------------------------------------------------------------------
# Sokoban (sokoban.py)
# --------------------------------------------------------------------------

FLOOR, WALL, DOCK, WORKER, WORKER_ON_DOCK, BOX, BOX_ON_DOCK = " ", "#", ".", "@", "+", "$", "*"

np = None  # set by --numpy


def enterable_by_box(c):
    return (
        (c == FLOOR)
        or (c == DOCK)
        or (c == WORKER_ON_DOCK)
        or (c == WORKER)
        or (c == BOX)
        or (c == BOX_ON_DOCK)
    )


def manhattan(x, y, x2, y2):
    return abs(x2 - x) + abs(y2 - y)


def cells_where(board, wanted):
    """Cells whose state is in `wanted` as a list of (x, y), or None when empty
    (the reference returns an (n, 2) numpy array)."""
    xy = []
    for y, row in enumerate(board):
        for x, c in enumerate(row):
            if c in wanted:
                xy.append((x, y))
    if len(xy) == 0:
        return None
    return np.array(xy) if np is not None else xy


class Sokoban:
    def __init__(self, board):
        self._state = board
        self._worker_x, self._worker_y = self.find_worker()

    def __hash__(self):
        return hash("-".join("".join(r) for r in self._state))

    def find_walls(self):
        return cells_where(self._state, WALL)

    def find_worker(self):
        for y, row in enumerate(self._state):
            for x, c in enumerate(row):
                if c == WORKER_ON_DOCK or c == WORKER:
                    return (x, y)
        raise ValueError("Cannot find worker.")

    def find_open_docks(self):
        return cells_where(self._state, {DOCK, WORKER_ON_DOCK})

    def find_to_move_boxes(self):
        return cells_where(self._state, (BOX,))

    def is_box_movable(self, x, y):
        if x > 0 and x < self.width - 1:
            horizontal = enterable_by_box(self.get_state(x - 1, y)) and enterable_by_box(self.get_state(x + 1, y))
        else:
            horizontal = False
        if y > 0 and y < self.height - 1:
            vertical = enterable_by_box(self.get_state(x, y - 1)) and enterable_by_box(self.get_state(x, y + 1))
        else:
            vertical = False
        return horizontal or vertical

    def heuristic(self):
        boxes = self.find_to_move_boxes()
        docks = self.find_open_docks()
        if boxes is None or docks is None:
            return 0
        for b in boxes:
            if not self.is_box_movable(b[0], b[1]):
                return float("inf")
        if np is not None:
            d = np.abs(docks.reshape(1, -1, 2) - boxes.reshape(-1, 1, 2)).sum(-1)
            return float(d.min(-1).sum())
        total = 0
        for bx, by in boxes:
            total += min(abs(dx - bx) + abs(dy - by) for dx, dy in docks)
        return float(total)

    def get_state(self, x, y):
        return self._state[y][x]

    def set_state(self, x, y, c):
        self._state[y][x] = c

    def _in_bounds(self, x, y):
        return x >= 0 and x < self.width and y >= 0 and y < self.height

    def _try_move_worker(self, x, y, nx, ny):
        if not self._in_bounds(x, y) or not self._in_bounds(nx, ny):
            return None
        if manhattan(x, y, nx, ny) != 1:
            return None
        cur, new = self.get_state(x, y), self.get_state(nx, ny)
        if new == FLOOR and cur == WORKER:
            self.set_state(nx, ny, WORKER)
            self.set_state(x, y, FLOOR)
        elif new == DOCK and cur == WORKER:
            self.set_state(nx, ny, WORKER_ON_DOCK)
            self.set_state(x, y, FLOOR)
        elif new == FLOOR and cur == WORKER_ON_DOCK:
            self.set_state(nx, ny, WORKER)
            self.set_state(x, y, DOCK)
        elif new == DOCK and cur == WORKER_ON_DOCK:
            self.set_state(nx, ny, WORKER_ON_DOCK)
            self.set_state(x, y, DOCK)
        else:
            return None
        return nx, ny

    def _try_move_box(self, x, y, nx, ny):
        if not self._in_bounds(x, y) or not self._in_bounds(nx, ny):
            return None
        if manhattan(x, y, nx, ny) != 1:
            return None
        cur, new = self.get_state(x, y), self.get_state(nx, ny)
        if new == FLOOR and cur == BOX:
            self.set_state(nx, ny, BOX)
            self.set_state(x, y, FLOOR)
        elif new == DOCK and cur == BOX:
            self.set_state(nx, ny, BOX_ON_DOCK)
            self.set_state(x, y, FLOOR)
        elif new == FLOOR and cur == BOX_ON_DOCK:
            self.set_state(nx, ny, BOX)
            self.set_state(x, y, DOCK)
        elif new == DOCK and cur == BOX_ON_DOCK:
            self.set_state(nx, ny, BOX_ON_DOCK)
            self.set_state(x, y, DOCK)
        else:
            return None
        return nx, ny

    @property
    def state(self):
        return deepcopy(self._state)

    @functools.cached_property
    def height(self):
        return len(self._state)

    @functools.cached_property
    def width(self):
        return max([len(r) for r in self._state])

    @property
    def is_complete(self):
        return not any(map(lambda c: c == BOX, chain.from_iterable(self._state)))

    def _move(self, dx, dy):
        wx, wy = self._worker_x, self._worker_y
        self._try_move_box(wx + dx, wy + dy, wx + 2 * dx, wy + 2 * dy)
        moved = self._try_move_worker(wx, wy, wx + dx, wy + dy)
        if moved is not None:
            self._worker_x, self._worker_y = moved

    def move_up(self):
        self._move(0, -1)

    def move_down(self):
        self._move(0, 1)

    def move_left(self):
        self._move(-1, 0)

    def move_right(self):
        self._move(1, 0)


class SokobanNode(SearchNode):
    def __init__(self, sokoban, cost_from_start=0.0, parent=None, deterministic=True):
        super().__init__(parent, deterministic=deterministic)
        self.sokoban = sokoban
        self._g = cost_from_start

    @property
    def state(self):
        return dict(state=self.sokoban.state)

    def _construct_child(self, direction):
        board = deepcopy(self.sokoban)
        if direction == "up":
            board.move_up()
        elif direction == "down":
            board.move_down()
        elif direction == "left":
            board.move_left()
        elif direction == "right":
            board.move_right()
        return SokobanNode(board, cost_from_start=self.cost_from_start + 1, parent=self, deterministic=self.deterministic)

    def _get_children(self):
        kids = []
        for d in ["up", "down", "left", "right"]:
            node = self._construct_child(d)
            if not math.isfinite(node.cost):
                continue
            kids.append(node)
        return kids

    @property
    def heuristic(self):
        return self.sokoban.heuristic()

    @property
    def cost_from_start(self):
        return self._g

    def __hash__(self):
        return hash(self.sokoban)

    @property
    def is_goal(self):
        return self.sokoban.is_complete


def sample_positions(width, height, n, exclude, xs, ys):
    cand = set(product(xs, ys)).difference(set(exclude))
    cand = list(cand)
    random.shuffle(cand)
    return cand[:n]


def generate_level(width, height, num_walls, num_boxes):
    """generate_level: border walls, interior walls, boxes 2 cells from the border,
    worker, docks; each a shuffle of the remaining cells."""
    obj = {}
    border = [(x, 0) for x in range(width)] + [(x, height - 1) for x in range(width)]
    border += [(0, y) for y in range(height)] + [(width - 1, y) for y in range(height)]
    for xy in border:
        obj[xy] = WALL
    for xy in sample_positions(width, height, num_walls, obj.keys(), range(width), range(height)):
        obj[xy] = WALL
    for xy in sample_positions(width, height, num_boxes, obj.keys(), range(2, width - 2), range(2, height - 2)):
        obj[xy] = BOX
    for xy in sample_positions(width, height, 1, obj.keys(), range(width), range(height)):
        obj[xy] = WORKER
    for xy in sample_positions(width, height, num_boxes, obj.keys(), range(width), range(height)):
        obj[xy] = DOCK
    board = []
    for y, x in product(range(height), range(width)):
        if x == 0:
            board.append([])
        board[-1].append(obj.get((x, y), FLOOR))
    return Sokoban(board)


class SokobanTrace:
    def __init__(self, start, trace):
        self.sokoban_start = start
        self.trace = trace

    def __hash__(self):
        return hash(self.sokoban_start)

    def to_dict(self):
        return dict(sokoban_start=self.sokoban_start.state, trace=[s.to_dict() for s in self.trace])

    @staticmethod
    def from_dict(d):
        return SokobanTrace(Sokoban(d["sokoban_start"]), [LogStep.from_dict(s) for s in d["trace"]])

    @property
    def reasoning_trace(self):
        return [s for s in self.trace if s.action != "plan"]

    @property
    def plan(self):
        return [s for s in self.trace if s.action == "plan"]


def xy_list(xys):
    return xys.tolist() if np is not None else xys


class SokobanTokenizer(Tokenizer):
    """WithBoxSokobanTokenizer: `worker x y`, unplaced boxes, open docks, walls
    (each sorted by the string "x-y"); clauses list the worker and unplaced boxes."""

    def __init__(self, width, height):
        words = [str(i) for i in range(max(width, height))]
        words += [f"c{i}" for i in range(40000)]
        words += ["box", "worker", "dock", "wall", "create", "close", "plan"]
        super().__init__(words)

    @staticmethod
    def _listed(word, xys):
        if xys is None:
            return []
        keys = [f"{x}-{y}" for x, y in xy_list(xys)]
        keys.sort()
        out = []
        for xs, ys in map(lambda s: s.split("-"), keys):
            out += [word, xs, ys]
        return out

    @staticmethod
    def _worker(sok):
        x, y = sok.find_worker()
        return ["worker", str(x), str(y)]

    def _prompt(self, sok):
        return [
            *self._worker(sok),
            *self._listed("box", sok.find_to_move_boxes()),
            *self._listed("dock", sok.find_open_docks()),
            *self._listed("wall", sok.find_walls()),
        ]

    def _reasoning_step(self, step):
        assert step.action in ["create", "close"]
        sok = Sokoban(step.state["state"])
        assert not math.isinf(step.cost_from_start)
        assert not math.isnan(step.cost_from_start)
        assert not math.isinf(step.heuristic)
        assert not math.isnan(step.heuristic)
        return [
            step.action,
            *self._worker(sok),
            *self._listed("box", sok.find_to_move_boxes()),
            f"c{int(step.cost_from_start)}",
            f"c{int(step.heuristic)}",
        ]

    def _plan_step(self, step):
        assert step.action == "plan"
        sok = Sokoban(step.state["state"])
        assert not math.isinf(step.cost_from_start)
        assert not math.isnan(step.cost_from_start)
        assert not math.isinf(step.heuristic)
        assert not math.isnan(step.heuristic)
        x, y = sok.find_worker()
        return [step.action, str(x), str(y)]

    def tokenize(self, trace):
        prompt = self._prompt(trace.sokoban_start)
        reasoning = chain.from_iterable(map(self._reasoning_step, trace.reasoning_trace))
        plan = chain.from_iterable(map(self._plan_step, trace.plan))
        return {"id": hash(trace), "prompt": prompt, "reasoning": list(reasoning), "plan": list(plan)}


MAX_REASONING = 10000  # training filter: 0 <= reasoning tokens < 10000


def sokoban_solve(level, deterministic=False):
    """A* on a level, as SokobanTrace.generate does after sampling."""
    return SokobanTrace(level, list(astar(SokobanNode(level, deterministic=deterministic))))


# --------------------------------------------------------------------------
# Timed generation loops
# --------------------------------------------------------------------------


def budget_clock(budget):
    """The clock the time budget is checked against: process CPU time or wall time."""
    return time.process_time if budget == "cpu" else time.perf_counter


def bench_maze(size, deterministic, seconds, budget="cpu"):
    tok = MazeTokenizer(size, size)
    seen = set()  # the MongoDB _id (maze hash) uniqueness rule
    tasks = tokens = layouts = 0
    clock = budget_clock(budget)
    t0, c0, b0 = time.perf_counter(), time.process_time(), clock()
    while clock() - b0 < seconds:
        maze_hash, stored = maze_layout(size, size, deterministic)
        layouts += 1
        if not stored or maze_hash in seen:
            continue
        seen.add(maze_hash)
        for d in stored.values():  # what `maze tokenize` reads back from MongoDB
            seq = tok(MazeTrace.from_dict(d))
            tasks += 1
            tokens += token_count(seq)
    return dict(
        tasks=tasks,
        tokens=tokens,
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        layouts=layouts,
    )


def bench_sokoban(size, walls, boxes, seconds, budget="cpu"):
    tok = SokobanTokenizer(size, size)
    seen = set()  # the MongoDB _id = hash(level) uniqueness rule
    tasks = tokens = levels = 0
    clock = budget_clock(budget)
    t0, c0, b0 = time.perf_counter(), time.process_time(), clock()
    while clock() - b0 < seconds:
        levels += 1
        level = generate_level(size, size, walls, boxes)
        try:
            trace = sokoban_solve(level, deterministic=False)
        except Unsolvable:
            continue
        key = hash(trace)
        if key in seen:
            continue
        seen.add(key)
        seq = tok(SokobanTrace.from_dict(trace.to_dict()))
        if not (0 <= len(seq["reasoning"]) < MAX_REASONING):
            continue
        tasks += 1
        tokens += token_count(seq)
    return dict(
        tasks=tasks,
        tokens=tokens,
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        levels=levels,
    )


# --------------------------------------------------------------------------
# Cross-check helpers (JSON lines in planform's task format)
# --------------------------------------------------------------------------


def maze_task_tokens(task, deterministic):
    w, h = task["width"], task["height"]
    walls = sorted(x + y * w for x, y in task["walls"])
    start = task["start"][0] + task["start"][1] * w
    goal = task["goal"][0] + task["goal"][1] * w
    trace = MazeTrace.from_int_seq([w, h, start, goal, *walls], deterministic)
    return MazeTokenizer(w, h)(MazeTrace.from_dict(trace.to_dict()))


def level_from_task(t):
    board = [[FLOOR] * t["width"] for _ in range(t["height"])]
    for x, y in t["walls"]:
        board[y][x] = WALL
    for x, y in t["docks"]:
        board[y][x] = DOCK
    for x, y in t["boxes"]:
        board[y][x] = BOX_ON_DOCK if board[y][x] == DOCK else BOX
    x, y = t["worker"]
    board[y][x] = WORKER_ON_DOCK if board[y][x] == DOCK else WORKER
    return Sokoban(board)


def task_from_level(sok):
    cells = {c: [] for c in (WALL, DOCK, BOX, BOX_ON_DOCK, WORKER, WORKER_ON_DOCK)}
    for y, row in enumerate(sok._state):
        for x, c in enumerate(row):
            if c in cells:
                cells[c].append([x, y])
    return {
        "width": sok.width,
        "height": sok.height,
        "worker": (cells[WORKER] + cells[WORKER_ON_DOCK])[0],
        "boxes": cells[BOX] + cells[BOX_ON_DOCK],
        "docks": cells[DOCK] + cells[BOX_ON_DOCK] + cells[WORKER_ON_DOCK],
        "walls": cells[WALL],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="timed generation loop; prints JSON")
    g.add_argument("--domain", choices=["maze", "sokoban"], default="maze")
    g.add_argument("--size", type=int, default=None, help="maze side (10) or Sokoban side (7)")
    g.add_argument("--mode", choices=["det", "nondet"], default="det", help="maze A* mode")
    g.add_argument("--walls", type=int, default=2, help="Sokoban interior walls")
    g.add_argument("--boxes", type=int, default=2, help="Sokoban boxes")
    g.add_argument("--seconds", type=float, default=5.0)
    g.add_argument("--budget", choices=["cpu", "wall"], default="cpu", help="clock for --seconds")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--numpy", action="store_true", help="numpy heuristic, like the reference")
    s = sub.add_parser("solve-maze", help="JSON-lines maze tasks on stdin -> tokens")
    s.add_argument("--mode", choices=["det", "nondet"], default="det")
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("sample-sokoban", help="print solvable levels as JSON lines")
    s.add_argument("--count", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("solve-sokoban", help="JSON-lines levels on stdin -> tokens")
    s.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    global np
    random.seed(args.seed)
    if args.cmd == "gen":
        if args.numpy:
            import numpy  # noqa: PLC0415 (optional)

            np = numpy
        if args.domain == "maze":
            size = args.size or 10
            res = bench_maze(size, args.mode == "det", args.seconds, args.budget)
            res["case"] = f"maze {size}x{size} {args.mode}"
        else:
            size = args.size or 7
            res = bench_sokoban(size, args.walls, args.boxes, args.seconds, args.budget)
            res["case"] = f"sokoban {size}x{size} walls {args.walls} boxes {args.boxes} nondet"
        res["python"] = sys.version.split()[0]
        res["numpy"] = np is not None
        print(json.dumps(res))
    elif args.cmd == "solve-maze":
        for line in sys.stdin:
            if line.strip():
                seq = maze_task_tokens(json.loads(line), args.mode == "det")
                print(json.dumps({k: seq[k] for k in ("prompt", "reasoning", "plan")}))
    elif args.cmd == "sample-sokoban":
        n = 0
        while n < args.count:
            level = generate_level(7, 7, 2, 2)
            try:
                trace = sokoban_solve(deepcopy(level))
            except Unsolvable:
                continue
            if len(trace.trace) > 900:  # keep the cross-check quick
                continue
            print(json.dumps(task_from_level(level)))
            n += 1
    elif args.cmd == "solve-sokoban":
        tok = SokobanTokenizer(7, 7)
        for line in sys.stdin:
            if line.strip():
                seq = tok(sokoban_solve(level_from_task(json.loads(line))))
                print(json.dumps({k: seq[k] for k in ("prompt", "reasoning", "plan")}))


if __name__ == "__main__":
    main()
