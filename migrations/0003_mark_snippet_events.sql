-- Events the public site key sent were marked 'collect'; SPEC section 11 names them 'snippet', and
-- counters, attribution and reports now exclude them by that one value.
UPDATE events SET source = 'snippet' WHERE source = 'collect';
