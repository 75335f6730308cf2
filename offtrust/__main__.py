from offtrust.cli import main

main()
