"""Pure pricing rules: price selection, currency conversion, promotions, dynamic pricing. No I/O."""
