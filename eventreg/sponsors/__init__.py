"""What sponsors see of the events they sponsor: a summary that never singles anybody out, and the
contact details of exactly those attendees who said yes to sharing them."""
