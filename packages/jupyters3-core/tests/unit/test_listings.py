"""The listing cache, on a fake clock and a scripted walk: single flight,
freshness bounds, write-through and its limits, the cap."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from jupyters3.changes import Removed, Written
from jupyters3.listings import MIN_AGE, ListingCache, Walk
from jupyters3.s3.xml import ListedObject

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Bucket:
    """What a walk finds: a folder ``d/`` of ``n`` files and sub-folders, and
    how long a walk takes on the fake clock."""

    def __init__(self, n: int, *, pages: int = 3, cost: float = 1.0) -> None:
        self.objects = {f"d/f{i}": ListedObject(f"d/f{i}", i, f"e{i}", T) for i in range(n)}
        self.prefixes = {"d/sub/"}
        self.pages, self.cost = pages, cost
        self.now = 0.0
        self.walks = 0
        self.gate: asyncio.Event | None = None

    def clock(self) -> float:
        return self.now

    async def walk(self) -> Walk:
        self.walks += 1
        if self.gate is not None:
            await self.gate.wait()
        self.now += self.cost
        return list(self.objects.values()), sorted(self.prefixes), self.pages


def cache(bucket: Bucket, **options: float) -> ListingCache:
    return ListingCache(clock=bucket.clock, **options)  # type: ignore[arg-type]


async def names(listings: ListingCache, bucket: Bucket) -> set[str]:
    objects, prefixes = await listings.listing("d/", bucket.walk)
    return {o.key for o in objects} | set(prefixes)


async def test_concurrent_listings_of_one_folder_share_one_walk() -> None:
    bucket = Bucket(5)
    bucket.gate = asyncio.Event()
    listings = cache(bucket)
    waiting = [asyncio.ensure_future(names(listings, bucket)) for _ in range(5)]
    await asyncio.sleep(0)
    bucket.gate.set()
    results = await asyncio.gather(*waiting)
    assert bucket.walks == 1 and all(r == results[0] for r in results)


async def test_a_folder_of_several_pages_is_kept_for_its_bound_then_walked_again() -> None:
    bucket = Bucket(5, cost=1.0)  # bound: 10 x 1 s
    listings = cache(bucket, max_age=30.0)
    await names(listings, bucket)
    bucket.now = 9.9  # the walk started at 0
    await names(listings, bucket)
    assert bucket.walks == 1
    bucket.now = 10.0
    await names(listings, bucket)
    assert bucket.walks == 2


@pytest.mark.parametrize(("cost", "bound"), [(0.01, MIN_AGE), (1.0, 10.0), (9.0, 30.0)])
async def test_the_bound_grows_with_the_walks_cost_up_to_max_age(cost: float, bound: float) -> None:
    bucket = Bucket(3, cost=cost)
    listings = cache(bucket, max_age=30.0)
    await names(listings, bucket)
    bucket.now = bound - 0.001
    await names(listings, bucket)
    assert bucket.walks == 1
    bucket.now = bound + 0.001
    await names(listings, bucket)
    assert bucket.walks == 2


async def test_a_folder_of_one_page_is_always_listed_afresh() -> None:
    bucket = Bucket(3, pages=1)
    listings = cache(bucket)
    for _ in range(3):
        await names(listings, bucket)
    assert bucket.walks == 3 and listings.entries == 0


async def test_max_age_zero_keeps_nothing() -> None:
    bucket = Bucket(3)
    listings = cache(bucket, max_age=0.0)
    await names(listings, bucket)
    await names(listings, bucket)
    assert bucket.walks == 2


async def test_own_writes_update_the_kept_listing_in_place() -> None:
    bucket = Bucket(3)
    listings = cache(bucket)
    await names(listings, bucket)
    listings.apply(Written("d/new.txt", 7, "n", T))  # a save
    listings.apply(Written("d/f0", 99, "v2", T))  # a save over a file
    listings.apply(Written("d/made/", 0, "m", T))  # mkdir
    listings.apply(Written("d/copied/x/y.txt", 1, "c", T))  # a copied folder's content
    listings.apply(Removed(("d/f1",)))  # a delete
    listings.apply(Removed(("d/sub/a", "d/sub/"), emptied=("d/sub/",)))  # a folder delete
    listings.apply(Written("elsewhere/z", 1, "z", T))  # another folder: nothing
    objects, prefixes = await listings.listing("d/", bucket.walk)
    assert bucket.walks == 1
    assert {o.key: o.size for o in objects} == {"d/f0": 99, "d/f2": 2, "d/new.txt": 7}
    assert prefixes == ["d/copied/", "d/made/"]


async def test_a_delete_inside_a_sub_folder_it_cannot_judge_walks_again() -> None:
    """One key of ``d/sub/`` deleted, not all: whether ``d/sub/`` still holds
    anything is not known here, so the next listing walks."""
    bucket = Bucket(3)
    listings = cache(bucket)
    await names(listings, bucket)
    listings.apply(Removed(("d/sub/a",)))
    await names(listings, bucket)
    assert bucket.walks == 2


async def test_a_checkpoint_deleted_beside_its_file_keeps_the_listing() -> None:
    bucket = Bucket(3)
    bucket.prefixes.add("d/f1/")  # f1's checkpoints' holder
    listings = cache(bucket)
    await names(listings, bucket)
    listings.apply(Removed(("d/f1/.checkpoints/20260101T000000000000-ab12cd",)))
    await names(listings, bucket)
    assert bucket.walks == 1


async def test_a_copy_of_unknown_size_walks_again() -> None:
    bucket = Bucket(3)
    listings = cache(bucket)
    await names(listings, bucket)
    listings.apply(Written("d/c.bin", None, "c", T))
    await names(listings, bucket)
    assert bucket.walks == 2


async def test_the_folder_itself_deleted_drops_its_listing() -> None:
    bucket = Bucket(3)
    listings = cache(bucket)
    await names(listings, bucket)
    listings.apply(Removed(("d/f0",), emptied=("d/",)))
    await names(listings, bucket)
    assert bucket.walks == 2


async def test_a_write_during_a_walk_is_in_the_listing_it_keeps() -> None:
    bucket = Bucket(3)
    bucket.gate = asyncio.Event()
    listings = cache(bucket)
    walking = asyncio.ensure_future(names(listings, bucket))
    await asyncio.sleep(0)
    listings.apply(Written("d/late.txt", 1, "l", T))  # saved after its page was read
    bucket.gate.set()
    await walking
    bucket.gate = None
    assert "d/late.txt" in await names(listings, bucket)
    assert bucket.walks == 1


async def test_the_cap_drops_the_folders_listed_least_recently() -> None:
    bucket = Bucket(4)  # 4 files and a sub-folder: 5 entries a folder
    listings = cache(bucket, max_entries=12)
    walked: list[str] = []

    async def listing(folder: str) -> None:
        async def walk() -> Walk:
            walked.append(folder)
            objects = [o._replace(key=folder + o.key[2:]) for o in bucket.objects.values()]
            return objects, [folder + "sub/"], 3

        await listings.listing(folder, walk)

    for folder in ("a/", "b/", "a/", "c/"):  # a is used again before c comes
        await listing(folder)
    assert listings.entries <= 12
    await listing("a/")
    await listing("b/")  # the least recently used: dropped
    assert walked == ["a/", "b/", "c/", "b/"]
